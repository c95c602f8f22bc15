/*
 * runtime: what the daemon's modules share while it runs.  Owned by
 * handler/main.c; cfg is replaced on reload, so handlers look it up per
 * request and never keep pointers into it across an asynchronous step
 * (an intake loop takes the new one up at a point of its own choosing, and
 * the old one is freed once every loop has).
 */
#ifndef REKEY_STATE_RUNTIME_H
#define REKEY_STATE_RUNTIME_H

#include "state/webhook_commands.h"

struct event_base;
struct mailbox;
struct intake_loops;
struct config;
struct store;
struct journal;
struct listener;
struct subscriptions;
struct graph_worker;
struct correlator;
struct rotator;
struct notifier;
struct alerts;
struct nylas_secrets;
struct webhook_manager;
struct leader;

/*
 * The main loop has one; each intake loop has its own copy (its base, its
 * listener, its journal handle, the config it has taken up) whose main
 * points to the main loop's.
 */
struct runtime {
	struct event_base *base;
	struct runtime *main;		/* the main loop's (the engines'); itself there */
	struct mailbox *inbox;		/* runs work on this loop, posted from any thread */
	struct intake_loops *loops;	/* the intake loops; main loop only */
	struct config *cfg;
	struct store *store;
	struct journal *journal;
	struct listener *listener;
	struct subscriptions *subscriptions;	/* NULL while none runs */
	struct graph_worker *graph_worker;	/* NULL while none runs */
	struct correlator *correlator;		/* NULL while none runs */
	struct rotator *rotator;		/* NULL while none runs (rotator_wake takes NULL) */
	struct notifier *notifier;		/* the owners' outbox */
	struct alerts *alerts;			/* NULL while none runs */
	struct nylas_secrets *nylas_secrets;	/* managed webhook secrets and windows (intake reads) */
	struct webhook_manager *webhooks;	/* register, rotate-secret; NULL while none runs */
	/* How intake asks the webhook manager without including engine/: set by main. */
	webhook_register_fn webhook_register;
	webhook_rotate_fn webhook_rotate;
	int draining;		/* SIGTERM received: finish in-flight work and exit */
	struct leader *leader;	/* who leads (state/leader.h); NULL once stopping */
	int64_t epoch;		/* the epoch this leader's engines write with; -1: a follower */
};

#endif
