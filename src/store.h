/*
 * store: the durable journal and state.  A small interface with one
 * implementation per backend (store_sqlite.c; PostgreSQL later), chosen by
 * the url scheme.  All calls are synchronous; a connection is used by one
 * thread only.  Inbound events are written by the journal's writer thread,
 * many to a transaction (see journal.c).
 */
#ifndef REKEY_STORE_H
#define REKEY_STORE_H

#include <stddef.h>
#include <stdint.h>

/* One inbound webhook event as journaled.  Strings may be NULL when absent. */
struct store_event {
	const char *source;		/* "nylas" or "graph" */
	const char *app;
	const char *event_id;		/* the provider's notification id: the dedup key */
	const char *type;		/* "grant.expired", ... */
	int64_t received_ms;
	const char *remote_addr;	/* client address (after trusted X-Forwarded-For) */
	/* Parsed grant fields (Nylas grant.* events); -1 when absent. */
	const char *grant_id;
	const char *email;
	const char *provider;
	const char *integration_id;
	int64_t code;
	int reauth_flag;		/* 1, 0, or -1 when absent */
	int64_t event_time;		/* envelope "time", Unix seconds */
	int64_t grant_updated_at;
	const char *body;		/* the raw (inflated) JSON */
	size_t body_len;
};

enum store_result {
	STORE_STORED,
	STORE_DUPLICATE,
	STORE_ERROR,
};

struct store;

struct store_backend {
	const char *scheme;		/* url prefix, "sqlite:" */
	void *(*open)(const char *rest, char **err);
	void (*close)(void *db);
	int (*begin)(void *db);
	int (*commit)(void *db);
	int (*rollback)(void *db);
	enum store_result (*add_event)(void *db, const struct store_event *ev);
	int (*ping)(void *db);
	/* NULL when the backend needs none. */
	int (*checkpoint)(void *db, int may_block, int64_t *log, int64_t *left);
	int64_t (*count_events)(void *db, const char *source);
};

/* Opens the store at url ("sqlite:PATH"), creating and migrating its schema.  *err on failure (caller frees). */
struct store *store_open(const char *url, char **err);
void store_close(struct store *st);

int store_begin(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
/* Inside a transaction: adds the event unless its (source, app, event_id) is known. */
enum store_result store_add_event(struct store *st, const struct store_event *ev);
/* 0 when the store accepts a write now. */
int store_ping(struct store *st);
int64_t store_count_events(struct store *st, const char *source);
/*
 * Moves committed data from the write-ahead log into the database without
 * blocking writers or waiting for them; with may_block, a log grown past the
 * backend's limit is then rewound even if writers must wait for that (never
 * ask for it from the thread that commits).  *log (may be NULL) is set to the
 * log's length and *left (may be NULL) to what was committed meanwhile and is
 * still to copy, both in pages; when *left is 0 the next commit rewinds the
 * log.  Either is -1 when not known (another checkpoint was running).  0 or -1.
 */
int store_checkpoint(struct store *st, int may_block, int64_t *log, int64_t *left);

#endif
