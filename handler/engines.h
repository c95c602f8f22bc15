/*
 * engines: what only the leader runs (DESIGN.md: with several replicas one
 * leader runs the worker) — the correlator, the rotator, the expiry poll,
 * the Graph subscriptions and worker, the alerts, the notifier and the
 * webhook manager — started when this process becomes the leader and
 * stopped, at once and before anything else, when it stops being one.
 * Every replica takes webhooks and serves status; a follower runs none of
 * these.  With a SQLite store the one process leads from its start.
 *
 * Started with the leader's epoch: the store connections they write with
 * (the loop's rt->store, the journal's writer, their own) carry it, so the
 * store refuses their writes once another replica has taken over.
 */
#ifndef REKEY_HANDLER_ENGINES_H
#define REKEY_HANDLER_ENGINES_H

#include <stdint.h>

struct event;
struct expiry_poll;
struct http_client;
struct runtime;

struct engines {
	struct runtime *rt;		/* borrowed; rt->epoch is -1 while none runs */
	struct http_client *http;	/* borrowed */
	struct expiry_poll *expiry_poll;
	struct event *retry_ev;		/* a start whose epoch could not be set, again */
	int64_t want_epoch;		/* -1: stopped */
	int running;
};

/* Subscribes the engines' wake-ups (state/wake.h) once; nothing runs yet. */
void engines_init(struct engines *e, struct runtime *rt, struct http_client *http);
/* This process leads with epoch: starts every engine (retried each second until the epoch is set). */
void engines_start(struct engines *e, int64_t epoch);
/*
 * Leadership lost: stops every engine at once (calls in flight are cut
 * short, the notifier's too), and the loop's store connection is opened
 * afresh without the old epoch, for the admin API.
 */
void engines_stop(struct engines *e);
/* SIGHUP: running engines start afresh with the new config (the notifier stays). */
void engines_reload(struct engines *e);
/* SIGTERM: every engine stops but the notifier, which finishes what it is sending. */
void engines_drain(struct engines *e);
/* Frees what engines_init and the engines hold (at exit). */
void engines_free(struct engines *e);

#endif
