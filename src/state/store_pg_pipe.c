/*
 * store_pg_pipe: the answers of a pipelined transaction (store_pg.c sends
 * its statements): which statements were sent, reading their answers in
 * order when a statement needs its own or the caller settles, and the sync
 * point that ends the pipeline.  Only the first failure is logged, with the
 * name of the statement that failed: after it the server skips the rest of
 * the pipeline, and the transaction can only be rolled back.
 */
#include "lib/log.h"
#include "state/store_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Notes a statement (or a Parse, prepared: its name) sent in the pipeline. */
void
pg_pipe_sent(struct pg_db *s, const char *what, const char *prepared)
{
	struct pg_sent *it = &s->sent[s->nsent++];

	it->what = what;
	snprintf(it->prepared, sizeof(it->prepared), "%s", prepared != NULL ? prepared : "");
}

/* Forgets a cached statement whose Parse failed, so that its next use prepares it again. */
static void
stmt_forget(struct pg_db *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->nstmts; i++) {
		if (strcmp(s->stmts[i].name, name) != 0)
			continue;
		free(s->stmts[i].sql);
		s->stmts[i] = s->stmts[--s->nstmts];
		return;
	}
}

/*
 * A failed answer r (NULL: none came) to sent statement it.  Only the first
 * failure is logged: the server skipped the statements after it (aborted).
 */
static void
sent_failed(struct pg_db *s, const struct pg_sent *it, const PGresult *r)
{
	char buf[512];

	if (it->prepared[0] != '\0')
		stmt_forget(s, it->prepared);
	if (!s->pipe_failed)
		log_error("store: %s%s: %s", it->what, it->prepared[0] != '\0' ? ": preparing" : "",
		    r != NULL && PQresultStatus(r) != PGRES_PIPELINE_ABORTED ?
		    pg_trim(buf, sizeof(buf), PQresultErrorMessage(r)) : pg_error(s));
	s->pipe_failed = 1;
}

/* The next statement's answer in the pipeline, the NULL that ends it read too; NULL: none. */
static PGresult *
pipe_next(struct pg_db *s)
{
	PGresult *r = PQgetResult(s->conn), *end;

	if (r != NULL && PQresultStatus(r) != PGRES_PIPELINE_SYNC)
		while ((end = PQgetResult(s->conn)) != NULL)
			PQclear(end);
	return r;
}

/*
 * Reads the answers to every statement sent, oldest first, and hands the
 * last one's result to *last (caller PQclear()s) when it succeeded and last
 * is not NULL.  0, or -1 when one of them failed (logged).
 */
static int
pipe_read(struct pg_db *s, PGresult **last)
{
	PGresult *r;
	size_t i, n = s->nsent;
	int ok;

	for (i = 0; i < n && s->conn != NULL; i++) {
		r = pipe_next(s);
		ok = r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
		    PQresultStatus(r) == PGRES_TUPLES_OK);
		if (!ok)
			sent_failed(s, &s->sent[i], r);
		if (ok && last != NULL && i == n - 1)
			*last = r;
		else
			PQclear(r);
	}
	s->nsent = 0;
	pg_check_conn(s);
	return s->pipe_failed || s->conn == NULL ? -1 : 0;
}

/* The server is asked for the answers so far and they are read, as pipe_read.  0 or -1. */
int
pg_pipe_wait(struct pg_db *s, PGresult **last)
{
	if (s->nsent == 0)
		return s->pipe_failed ? -1 : 0;
	if (PQsendFlushRequest(s->conn) != 1 || PQflush(s->conn) != 0) {
		/* Without the request the server keeps the answers: the connection is of no more use. */
		log_error("store: sending a pipeline: %s", pg_error(s));
		pg_conn_lost(s);
		return -1;
	}
	return pipe_read(s, last);
}

/*
 * The pipeline's end: a sync point, every answer read (as pg_pipe_wait),
 * out of pipeline mode.  0, or -1 when a statement failed or the connection
 * was lost (then it is gone).
 */
int
pg_pipe_sync(struct pg_db *s, PGresult **last)
{
	PGresult *r;
	int rc, synced;

	if (s->conn == NULL || PQpipelineSync(s->conn) != 1)
		goto lost;
	rc = pipe_read(s, last);
	if (s->conn == NULL)
		return -1;
	r = PQgetResult(s->conn);
	synced = r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
	PQclear(r);
	if (!synced || PQexitPipelineMode(s->conn) != 1)
		goto lost;
	s->in_pipe = 0;
	s->pipe_failed = 0;
	return rc;
lost:
	/* The answers cannot be read to the end: the connection is of no more use. */
	if (s->conn != NULL)
		log_error("store: ending a pipeline: %s", pg_error(s));
	pg_conn_lost(s);
	return -1;
}
