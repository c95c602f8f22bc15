/*
 * store: the durable journal and state.  A small interface with one
 * implementation per backend (store_sqlite*.c, store_pg*.c), chosen by the
 * url scheme (sqlite:PATH, postgresql:// or postgres://).  All calls are synchronous; a connection is used by one
 * thread only.  Inbound events are written by the journal's writer thread,
 * many to a transaction (see journal.c).
 */
#ifndef REKEY_STATE_STORE_H
#define REKEY_STATE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct secret;

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
	/*
	 * Non-NULL: stored as processed already, with this result, at
	 * processed_ms (a storm's grant.expired settled by the journal's writer
	 * under the correlator's permit: state/storm.h).
	 */
	const char *result;
	int64_t processed_ms;
};

/* A journaled event not yet processed by the worker (store_pending_free frees). */
struct store_pending {
	int64_t id;			/* the store's row id: processing order */
	char *source;
	char *app;
	char *event_id;
	char *type;
	int64_t received_ms;
	char *body;			/* NUL-terminated copy of the raw body; NULL unless asked for */
	size_t body_len;
	/* The fields parsed at intake (NULL or -1 when absent), for grant events. */
	char *grant_id;
	char *email;
	char *provider;
	int64_t code;
	int64_t reauth_flag;
	int64_t event_time;		/* envelope "time", Unix seconds; -1 when absent */
};

/* The Graph subscription rekey keeps for an app; strings owned (store_subscription_clear). */
struct store_subscription {
	char *app;
	char *id;			/* Graph's subscription id */
	char *resource;
	char *notification_url;
	int64_t expiration;		/* Unix seconds */
	int64_t created_at;		/* Unix seconds */
	int64_t renewed_at;		/* Unix seconds; 0: never */
	int64_t resync_at;		/* a "missed" lifecycle event asked for a resync; 0: none */
};

/* What rekey last saw of a directory user (the baseline for "moved forward"). */
struct store_user {
	char *app;
	char *user_id;
	char *mail;
	char *upn;
	int account_enabled;		/* 1, 0, or -1 when unknown */
	int deleted;			/* 1 once a notification said so */
	int64_t sessions_valid_from;	/* Unix seconds; 0: unknown */
	int64_t last_password_change;	/* Unix seconds; 0: unknown */
	int64_t updated_ms;
};

/* One piece of user-side evidence for the correlation (strings borrowed). */
struct store_user_event {
	const char *app;
	const char *user_id;
	const char *email;		/* mail, else userPrincipalName; may be NULL */
	const char *kind;		/* disabled, deleted, sessions_revoked, password_changed */
	int64_t observed_ms;
	int64_t changed_at;		/* when Graph says it happened (Unix seconds); 0: unknown */
	int64_t source_event;		/* events.id of the notification */
	const char *evidence;		/* one line for status and the owners */
};

/*
 * One rotation (DESIGN.md "Rotation"); strings owned (store_rotation_clear).
 * state and reason hold the state machine's names (state/rotation.h).
 */
struct store_rotation {
	char *id;			/* a GUID; displayName "rekey-<id>" */
	char *app;
	char *state;			/* planned ... done, failed */
	char *reason;			/* incident, proactive, manual */
	char *incident_id;		/* NULL unless reason is incident */
	int dry_run;
	int approved;			/* approve mode: an operator said go */
	char *old_key_id;		/* the secret being replaced, when known */
	char *new_key_id;
	char *new_hint;
	int64_t new_end;		/* Unix seconds */
	unsigned char *secret_ct;	/* secretText sealed with the master key (crypto_aead_seal) */
	size_t secret_ct_len;
	int64_t lifetime;		/* seconds asked of addPassword */
	int attempts;			/* of the current step */
	int64_t next_at;		/* Unix ms of the next try; 0: now */
	char *last_error;
	int64_t created_at;		/* Unix ms */
	int64_t updated_at;
	int64_t published_at;		/* Unix ms; 0: not yet */
	int64_t retire_at;		/* Unix ms; 0: not scheduled */
	int test_ok;			/* testing: consecutive acceptances of the new secret */
	int64_t test_since;		/* testing: Unix ms it began (the propagation deadline's start) */
};

/* One grant to list in an incident (store_add_incident_grants); strings borrowed. */
struct store_incident_grant {
	const char *incident_id;
	const char *grant_id;
	const char *email;
	int64_t seen_ms;
};

/* One incident: why a set of grants expired; strings owned (store_incident_clear). */
struct store_incident {
	char *id;
	char *app;
	char *cause;			/* secret_expired, ..., unknown */
	char *state;			/* open, resolved */
	char *evidence;			/* a JSON array of strings */
	char *rotation_id;		/* NULL when none was started */
	int64_t opened_at;		/* Unix ms */
	int64_t updated_at;
	int64_t resolved_at;		/* 0 while open */
	char *resolved_by;		/* "recovered" (all grants back) or "operator"; NULL while open */
	int64_t affected;		/* filled by store_get/list_incident(s) */
	int64_t recovered;
};

/*
 * One message of the notifier's outbox (engine/notifier.c); strings owned
 * (store_outbox_clear).  (ref, kind, recipient, channel) is unique: adding
 * the same message twice stores it once, across restarts.
 */
struct store_outbox {
	int64_t id;
	char *app;
	char *kind;			/* incident_opened, rotation_done, ... (notice/kinds.h) */
	char *ref;			/* what it is about: incident or rotation id, key:threshold */
	char *channel;			/* email, slack, teams, webhook */
	char *recipient;		/* an address for email; the channel's name otherwise */
	char *msg_id;			/* Message-ID / webhook-id: the same on every attempt */
	char *subject;
	char *payload;			/* email: the RFC 5322 message; otherwise the JSON body */
	size_t payload_len;
	char *state;			/* pending, sending, sent, failed */
	int attempts;
	int64_t next_at;		/* Unix ms */
	char *last_error;
	int64_t created_at;		/* Unix ms */
	int64_t sent_at;		/* Unix ms; 0: not yet */
	int priority;			/* 0 first (the owners), then 1 (the users' own mails) */
};

/* The outbox of one app at a glance, for status and metrics. */
struct store_outbox_stats {
	int64_t pending;		/* pending or sending */
	int64_t sent;
	int64_t failed;
	char *last_error;		/* of the newest failed or retrying message; caller frees */
	int64_t last_error_at;
};

/* One small per-app fact as listed by store_list_values; strings owned. */
struct store_value {
	char *app;
	char *key;
	char *value;
};

/* What store_backup copied (store_backup_info_clear frees the strings). */
struct store_backup_info {
	int64_t pages;			/* database pages copied */
	int64_t bytes;			/* size of the copy */
	char **tables;			/* each table's name ... */
	int64_t *rows;			/* ... and its row count in the copy */
	size_t n_tables;
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
	/* Several events in one go (one round trip); NULL: add_event for each. */
	int (*add_events)(void *db, const struct store_event *const *evs, size_t n,
	    enum store_result *results);
	int (*ping)(void *db);
	/* Other rekey sessions connected to the store; NULL when none can be seen (SQLite). */
	int64_t (*other_sessions)(void *db);
	/* NULL when the backend needs none. */
	int (*checkpoint)(void *db, int may_block, int64_t *log, int64_t *left);
	int64_t (*count_events)(void *db, const char *source);
	int (*unprocessed)(void *db, const char *source, int64_t after, size_t max, int with_body,
	    struct store_pending **out, size_t *n);
	int (*mark_processed)(void *db, int64_t id, const char *result);
	/* Several at once (PostgreSQL: one statement); NULL: mark_processed for each. */
	int (*mark_processed_many)(void *db, const int64_t *ids, const char *const *results,
	    size_t n);
	int (*set_event_result)(void *db, const char *source, const char *app,
	    const char *event_id, const char *result);
	int (*storm_ready)(void *db, const char *app, const char *incident_id);
	int (*get_subscription)(void *db, const char *app, struct store_subscription *out);
	int (*put_subscription)(void *db, const struct store_subscription *sub);
	int (*delete_subscription)(void *db, const char *app);
	int (*get_user)(void *db, const char *app, const char *user_id, struct store_user *out);
	int (*put_user)(void *db, const struct store_user *u);
	int (*add_user_event)(void *db, const struct store_user_event *ev);
	int (*put_graph_tokens)(void *db, const char *digest, const char *tokens, size_t len,
	    int64_t now_ms, int64_t keep_ms);
	int (*get_graph_tokens)(void *db, const char *digest, char **out, size_t *len);
	int64_t (*count_user_events)(void *db, const char *app, const char *kind);
	int64_t (*count_results)(void *db, const char *source, const char *result);
	int (*set_durability)(void *db, int full);
	int (*begin_read)(void *db);
	void (*lock_wait)(void *db, int ms);
	/* NULL when the backend has no leadership (SQLite: one process, always the leader). */
	int (*set_epoch)(void *db, int64_t epoch);
	/* NULL when the backend waits for every statement anyway (SQLite: no round trips). */
	void (*defer_writes)(void *db);
	int (*settle)(void *db);
	int (*put_rotation)(void *db, const struct store_rotation *r);
	int (*get_rotation)(void *db, const char *id, struct store_rotation *out);
	int (*list_rotations)(void *db, const char *app, int unfinished, size_t max,
	    struct store_rotation **out, size_t *n);
	int (*put_incident)(void *db, const struct store_incident *inc);
	int (*get_incident)(void *db, const char *id, struct store_incident *out);
	int (*list_incidents)(void *db, const char *app, int open_only, size_t max,
	    struct store_incident **out, size_t *n);
	enum store_result (*add_incident_grant)(void *db, const char *incident_id,
	    const char *grant_id, const char *email, int64_t seen_ms);
	/* Several at once (PostgreSQL: one statement); NULL: add_incident_grant for each. */
	int (*add_incident_grants)(void *db, const struct store_incident_grant *g, size_t n,
	    enum store_result *results);
	int64_t (*recover_grants)(void *db, const char *app, const char *grant_id,
	    const char *email, int64_t at_ms);
	int (*get_value)(void *db, const char *app, const char *key, char **out);
	int (*put_value)(void *db, const char *app, const char *key, const char *value);
	int64_t (*recent_user_event)(void *db, const char *app, const char *email,
	    int64_t since_ms, char **kind, char **evidence);
	int (*list_values)(void *db, const char *app, const char *prefix, size_t max,
	    struct store_value **out, size_t *n);
	enum store_result (*add_outbox)(void *db, const struct store_outbox *m);
	int (*due_outbox)(void *db, int64_t now_ms, size_t max, struct store_outbox **out,
	    size_t *n);
	int (*update_outbox)(void *db, const struct store_outbox *m);
	int (*outbox_exists)(void *db, const char *ref, const char *kind);
	int64_t (*outbox_unsent)(void *db, const char *ref, const char *kind);
	int (*outbox_stats)(void *db, const char *app, struct store_outbox_stats *out);
	int (*unmailed_grants)(void *db, const char *incident_id, const char *kind, size_t max,
	    char ***emails, size_t *n);
	int (*incident_is_open)(void *db, const char *id);
	int (*incident_progress)(void *db, const char *id, int64_t since_ms, int64_t step_ms,
	    size_t n, int64_t *affected, int64_t *recovered);
	int (*reclaim_outbox)(void *db);
	int (*resolve_incident)(void *db, const char *id, const char *by, int64_t at_ms);
	/* Whether open could succeed, touching nothing: 0, or -1 and *err. */
	int (*check)(const char *rest, char **err);
	/* 1 and *err when there is surely no store at rest yet; 0 otherwise.  NULL: cannot tell. */
	int (*missing)(const char *rest, char **err);
	/* store_backup and store_expire_events; NULL when the backend has none. */
	int (*backup)(const char *rest, const char *dest, int force,
	    struct store_backup_info *info, char **err);
	int64_t (*expire_events)(void *db, int64_t before_ms, size_t max, int64_t *cursor,
	    int *more);
};

/* Opens the store at url ("sqlite:PATH"), creating and migrating its schema.  *err on failure (caller frees). */
struct store *store_open(const char *url, char **err);
/*
 * Whether store_open(url) could succeed, judged without creating or opening
 * anything (for rekey check): 0, or -1 and *err saying why not (caller frees).
 */
int store_check_url(const char *url, char **err);
/*
 * For the commands that only read what the daemon wrote (rekey status): 1
 * and *err ("no store at PATH: ...", caller frees) when url surely names no
 * store yet, so that they say so rather than have store_open create an empty
 * one; 0 when it may exist (store_open then says what else is wrong).
 */
int store_missing(const char *url, char **err);
void store_close(struct store *st);

/*
 * The password for the PostgreSQL store ([store] password_file), used by the
 * connections opened (or opened again) from now on; NULL: none, libpq then
 * takes the URL's or PGPASSFILE's.  A copy is kept (wiped when replaced);
 * any thread.
 */
void store_set_password(const struct secret *password);
/* For the backends: a copy of that password (secret_free), or NULL. */
struct secret *store_password_dup(void);
/*
 * Leadership fencing (state/leader.c): from now on this connection's writes
 * carry epoch, and the PostgreSQL store refuses them ("stale leader") once
 * another replica has taken over with a higher one; set again after a
 * reconnect.  A no-op returning 0 for SQLite.  Call it outside a transaction,
 * on the thread that uses the connection.  0 or -1.
 */
int store_set_epoch(struct store *st, int64_t epoch);

/*
 * For the journal's writer, whose transactions are many writes whose
 * answers it does not need one by one: from now on, inside a transaction
 * begun with store_begin, a write that answers only 0 or -1 may be sent
 * without waiting for that answer (PostgreSQL: a pipeline, so that the
 * writes of a batch cost one round trip to the server, not one each).  0
 * then means sent; a failure shows at the next call that reads, at
 * store_settle, or at store_commit, which then fails.  store_lock_wait and
 * store_set_durability apply with the next transaction.  The same calls
 * otherwise; a no-op for SQLite.
 */
void store_defer_writes(struct store *st);
/*
 * Inside a transaction: waits for the answers to the writes sent so far.
 * 0 when each succeeded, -1 when one failed (logged): the transaction must
 * then be rolled back.  0 at once where nothing was deferred.
 */
int store_settle(struct store *st);

int store_begin(struct store *st);
/*
 * A read-only transaction: the reads until store_commit see one snapshot and
 * share one lock, instead of taking and dropping it at every statement.  A
 * write inside it may fail (the snapshot is old): read only.
 */
int store_begin_read(struct store *st);
int store_commit(struct store *st);
int store_rollback(struct store *st);
/* Inside a transaction: adds the event unless its (source, app, event_id) is known. */
enum store_result store_add_event(struct store *st, const struct store_event *ev);
/*
 * Inside a transaction: store_add_event for each of evs[0..n), in order
 * (a repeat within them is a duplicate of the first), results[i] for each;
 * for PostgreSQL one statement, not n.  0, or -1 when the transaction must
 * be rolled back (results then mean nothing).
 */
int store_add_events(struct store *st, const struct store_event *const *evs, size_t n,
    enum store_result *results);
/*
 * From now on this connection's commits survive a crash of the process but
 * not necessarily of the machine (no fsync per commit).  Only for state that
 * can be worked out again; never for the journal or a rotation.  0 or -1.
 */
int store_relax_durability(struct store *st);
/* Full (1: an fsync per commit) or relaxed (0) durability for the next commits.  0 or -1. */
int store_set_durability(struct store *st, int full);
/* 1 when the next commit is fully durable (an fsync), 0 when relaxed. */
int store_durable(const struct store *st);
/*
 * How long this connection waits for another's write lock before a call
 * fails (default 5 s; PostgreSQL may keep one up to 100 ms shorter, rather
 * than set it again for every few ms).  A connection used from the event loop sets it short:
 * a failed write is retried later, a blocked loop answers nobody.
 */
void store_lock_wait(struct store *st, int ms);
/* 0 when the store accepts a write now. */
int store_ping(struct store *st);
/*
 * The sessions of other rekey processes connected to the store: replicas
 * (each holds several) and commands.  PostgreSQL sees them in
 * pg_stat_activity (application_name rekey); SQLite has none to see: 0.  -1
 * on error.  For rekey reseal, which must run with every replica stopped.
 */
int64_t store_other_sessions(struct store *st);
int64_t store_count_events(struct store *st, const char *source);
/*
 * The worker's queue: up to max events of source (NULL: any) not yet
 * processed, with a row id above after, oldest first, with their bodies when
 * with_body (the fields parsed at intake always).  *out (caller frees with
 * store_pending_free) and *n.  0 or -1.
 */
int store_unprocessed(struct store *st, const char *source, int64_t after, size_t max,
    int with_body, struct store_pending **out, size_t *n);
void store_pending_free(struct store_pending *p, size_t n);
/* Frees one entry's strings (a worker that took it over from the array). */
void store_pending_clear(struct store_pending *p);
/* Records that the worker is done with the event: result is a short word ("user_state", "suspect", ...). */
int store_mark_processed(struct store *st, int64_t id, const char *result);
/*
 * store_mark_processed for each of ids[0..n) with results[i], all at the
 * same time; one statement for PostgreSQL, not n (a batch of the
 * correlator).  0 or -1.
 */
int store_mark_processed_many(struct store *st, const int64_t *ids, const char *const *results,
    size_t n);
/* Changes the result of a processed event, found by its key; 0 or -1. */
int store_set_event_result(struct store *st, const char *source, const char *app,
    const char *event_id, const char *result);
/*
 * Whether app's grant.expired may be settled under a storm permit for
 * incident_id (state/storm.h): the incident is open, no Nylas event of the
 * app other than a grant.expired waits for the correlator, and the app's
 * latest rotation is not watching its new secret (the correlator counts
 * expiries then).  The correlator must see a grant's other events (a
 * re-authentication) in order with its expiries; grant.expired it has yet
 * to read it classifies as the permit does (the same incident; a grant
 * listed already is already_listed), so a backlog of them does not hold
 * the permit back.  1, 0, or -1 on error.
 */
int store_storm_ready(struct store *st, const char *app, const char *incident_id);
/* Events of source (NULL: any) processed with that result (NULL: any); -1 on error. */
int64_t store_count_results(struct store *st, const char *source, const char *result);

/* 1 and *out filled, 0 when the app has none, -1 on error. */
int store_get_subscription(struct store *st, const char *app, struct store_subscription *out);
/* Inserts or replaces the app's subscription.  0 or -1. */
int store_put_subscription(struct store *st, const struct store_subscription *sub);
int store_delete_subscription(struct store *st, const char *app);
void store_subscription_clear(struct store_subscription *s);

/* 1 and *out filled, 0 when unknown, -1 on error. */
int store_get_user(struct store *st, const char *app, const char *user_id, struct store_user *out);
int store_put_user(struct store *st, const struct store_user *u);
/*
 * A Graph batch's validationTokens (JSON, len bytes) under digest, kept
 * once however many items name them; sets older than keep_ms (no use: the
 * tokens have expired) go.  0 or -1.
 */
int store_put_graph_tokens(struct store *st, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms);
/* 1 and *out (caller frees, NUL-terminated) and *len, 0 when unknown, -1 on error. */
int store_get_graph_tokens(struct store *st, const char *digest, char **out, size_t *len);
void store_user_clear(struct store_user *u);
int store_add_user_event(struct store *st, const struct store_user_event *ev);
/* User events of app (NULL: any) and kind (NULL: any); -1 on error. */
int64_t store_count_user_events(struct store *st, const char *app, const char *kind);

/* Inserts or replaces the whole row (callers read, change, put).  0 or -1. */
int store_put_rotation(struct store *st, const struct store_rotation *r);
/* 1 and *out, 0 when unknown, -1 on error. */
int store_get_rotation(struct store *st, const char *id, struct store_rotation *out);
/*
 * Rotations of app (NULL: all), newest first, at most max; with unfinished,
 * only those not done or failed.  *out (store_rotations_free) and *n.  0 or -1.
 */
int store_list_rotations(struct store *st, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n);
void store_rotation_clear(struct store_rotation *r);
/* A deep copy of src into dst (store_rotation_clear frees it). */
void store_rotation_copy(struct store_rotation *dst, const struct store_rotation *src);
void store_rotations_free(struct store_rotation *r, size_t n);

/* Inserts or replaces the whole row, unless the stored one is resolved already (kept).  0 or -1. */
int store_put_incident(struct store *st, const struct store_incident *inc);
int store_get_incident(struct store *st, const char *id, struct store_incident *out);
/*
 * Marks incident id resolved by by at at_ms in one statement (no read of the
 * row, so nothing another connection just wrote is lost): 1 when it was
 * open, 0 when it was resolved already or is unknown, -1 on error.
 */
int store_resolve_incident(struct store *st, const char *id, const char *by, int64_t at_ms);
/* 1 when incident id is open, 0 when resolved or unknown, -1 on error; no counting (cheap). */
int store_incident_is_open(struct store *st, const char *id);
/*
 * How incident id's grants came and came back over time: n points step_ms
 * apart from since_ms, point i counting what was seen (affected[i]) and
 * what had recovered (recovered[i]) by since_ms + (i + 1) * step_ms (one
 * aggregate scan of the incident's grants; earlier ones count in point 0,
 * later ones in the last).  0 or -1.
 */
int store_incident_progress(struct store *st, const char *id, int64_t since_ms, int64_t step_ms,
    size_t n, int64_t *affected, int64_t *recovered);
/* Incidents of app (NULL: all), newest first, at most max, with affected/recovered counts. */
int store_list_incidents(struct store *st, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n);
void store_incident_clear(struct store_incident *inc);
void store_incidents_free(struct store_incident *inc, size_t n);
/* Adds a grant to an incident: STORE_STORED, STORE_DUPLICATE (already listed) or STORE_ERROR. */
enum store_result store_add_incident_grant(struct store *st, const char *incident_id,
    const char *grant_id, const char *email, int64_t seen_ms);
/*
 * Inside a transaction: store_add_incident_grant for each of g[0..n), in
 * order (a repeat within them is a duplicate of the first), results[i] for
 * each; one statement for PostgreSQL, not n.  0, or -1 when the transaction
 * must be rolled back (results then mean nothing).
 */
int store_add_incident_grants(struct store *st, const struct store_incident_grant *g, size_t n,
    enum store_result *results);
/*
 * Marks the not yet recovered grants of app's open incidents that match
 * grant_id or email (either may be NULL; email case-insensitively) as
 * recovered at at_ms.  The number marked, or -1.
 */
int64_t store_recover_grants(struct store *st, const char *app, const char *grant_id,
    const char *email, int64_t at_ms);

/* Small per-app facts ("in_use_key_id", "warned:<key>:<threshold>", ...): 1 and *out (caller frees), 0, -1. */
int store_get_value(struct store *st, const char *app, const char *key, char **out);
int store_put_value(struct store *st, const char *app, const char *key, const char *value);

/*
 * The newest user event of app for email (case-insensitive) observed at or
 * after since_ms: its observed_ms, with *kind and *evidence (caller frees);
 * 0 when none; -1 on error.
 */
int64_t store_recent_user_event(struct store *st, const char *app, const char *email,
    int64_t since_ms, char **kind, char **evidence);

/*
 * Values of app (NULL: of every app) whose key starts with prefix, newest
 * first, at most max: *out (store_values_free), *n.  0 or -1.
 */
int store_list_values(struct store *st, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n);
void store_values_free(struct store_value *v, size_t n);

/* Adds a message to the outbox: STORE_STORED, STORE_DUPLICATE (known already) or STORE_ERROR. */
enum store_result store_add_outbox(struct store *st, const struct store_outbox *m);
/* Up to max messages pending or sending whose next_at has come, by priority, oldest first (store_outboxes_free). */
int store_due_outbox(struct store *st, int64_t now_ms, size_t max, struct store_outbox **out,
    size_t *n);
/* Writes m's state, attempts, next_at, last_error and sent_at to its row (by id).  0 or -1. */
int store_update_outbox(struct store *st, const struct store_outbox *m);
/* 1 when some message of kind about ref is in the outbox (any recipient), 0 when none, -1. */
int store_outbox_exists(struct store *st, const char *ref, const char *kind);
/* How many messages of kind about ref are still to be sent (pending or sending), or -1. */
int64_t store_outbox_unsent(struct store *st, const char *ref, const char *kind);
int store_outbox_stats(struct store *st, const char *app, struct store_outbox_stats *out);
/* At start: the rows a dead process left "sending" are due now.  0 or -1. */
int store_reclaim_outbox(struct store *st);
void store_outbox_clear(struct store_outbox *m);
void store_outboxes_free(struct store_outbox *m, size_t n);
/*
 * Addresses (lower case) of an incident's grants not yet recovered that have
 * no message of kind to them about the incident in the outbox, at most max
 * (an address with two grants may come twice):
 * *emails (each and the array freed by the caller), *n.  0 or -1.
 */
int store_unmailed_grants(struct store *st, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n);

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

/*
 * rekey backup: a consistent copy of the store at url, taken while the
 * daemon runs, written to dest with mode 0600 (it holds sealed secrets) by
 * way of a temporary file beside it that is flushed to disk, then renamed.
 * An existing dest is replaced only with force.  0 and *info filled, or -1
 * and *err (caller frees); nothing is left behind on failure.  SQLite only:
 * for another backend *err names its own tool.
 */
int store_backup(const char *url, const char *dest, int force, struct store_backup_info *info,
    char **err);
void store_backup_info_clear(struct store_backup_info *info);

/*
 * One batch of the retention sweep, in its own transaction: of the next max
 * events after row id *cursor (0 to start), deletes those processed and
 * received before before_ms, and moves *cursor past them.  Unprocessed
 * events are never deleted.  *more is 0 at the end only: a batch of recent
 * events is passed over (0 deleted), since a restored or seeded store may
 * hold old events after recent ones.  The number deleted, or -1.
 */
int64_t store_expire_events(struct store *st, int64_t before_ms, size_t max, int64_t *cursor,
    int *more);

#endif
