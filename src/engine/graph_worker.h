/*
 * graph_worker: what happens to a Graph notification after the 202.  It
 * reads the journaled notifications from the store in order, checks the
 * batch's validationTokens when it carries any (a batch with any bad token is
 * flagged suspect and not acted on), hands lifecycle events to the
 * subscription manager, and takes every user notification as a hint: it
 * reads the user with GET /users/{id} (a 404 means deleted) and records the
 * user-side evidence that shows (disabled, deleted, sessions revoked,
 * password changed) for correlation.
 * Each event is marked processed, with its result, in the transaction that
 * records what it found, so a crash repeats at most the work in progress.
 */
#ifndef REKEY_ENGINE_GRAPH_WORKER_H
#define REKEY_ENGINE_GRAPH_WORKER_H

#include <stdint.h>

struct graph_user;
struct http_client;
struct runtime;
struct graph_worker;

/*
 * Without an earlier look at a user, a sessions or password change this many
 * seconds before the notification arrived still counts as evidence.
 */
#define GRAPH_WORKER_RECENT_S 3600

/* A lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed) for app. */
typedef void (*graph_lifecycle_cb)(const char *app, const char *subscription_id,
    const char *event, void *arg);

/*
 * Works from its own connection to cfg's store and from rt->cfg (a new
 * worker is made on reload); lifecycle events go to lifecycle_cb (may be
 * NULL: they are only recorded).  Never NULL.
 */
struct graph_worker *graph_worker_new(struct runtime *rt, struct http_client *hc,
    graph_lifecycle_cb lifecycle_cb, void *lifecycle_arg);
/* Cancels what is in flight; the events stay unprocessed for the next worker.  NULL is a no-op. */
void graph_worker_free(struct graph_worker *w);
/* New events were journaled: look now rather than at the next poll. */
void graph_worker_wake(struct graph_worker *w);

/*
 * The evidence a user's new state gives against what was known before
 * (prev_* are 0 or -1 when unknown): a bit set of GRAPH_EVIDENCE_*.  u NULL
 * means the user is gone.  Public for the unit tests.
 */
#define GRAPH_EVIDENCE_DISABLED 1
#define GRAPH_EVIDENCE_DELETED 2
#define GRAPH_EVIDENCE_SESSIONS_REVOKED 4
#define GRAPH_EVIDENCE_PASSWORD_CHANGED 8
int graph_user_evidence(const struct graph_user *u, int known, int prev_enabled, int prev_deleted,
    int64_t prev_sessions_from, int64_t prev_password_change, int64_t received_s);

#endif
