/*
 * subscriptions_int: what the files of the Graph subscriptions share.
 * Private to the module: only src/engine/subscriptions*.c include it;
 * everyone else goes through subscriptions.h.  subscriptions.c is the
 * driver (each app's timer and step(), which starts the one call the app's
 * state calls for), keeps the live subscription in the store and the
 * expiry gauge, starts the apps and takes the lifecycle events in;
 * subscriptions_answers.c settles what each call came to, records the
 * SubscriptionReady condition and schedules retries with backoff.
 * Everything here runs on the event loop.
 */
#ifndef REKEY_ENGINE_SUBSCRIPTIONS_INT_H
#define REKEY_ENGINE_SUBSCRIPTIONS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event;
struct graph_client;
struct graph_result;
struct secret;
struct store;

#define SUB_RESOURCE "/users"

/* The Graph call an app has in flight; there is at most one. */
enum sub_op {
	SUB_OP_NONE,
	SUB_OP_LIST,		/* GET /subscriptions: adopt ours, or sweep duplicates */
	SUB_OP_CREATE,		/* POST /subscriptions */
	SUB_OP_RENEW,		/* PATCH with a new expiration */
	SUB_OP_REAUTHORIZE,	/* POST /subscriptions/{id}/reauthorize */
	SUB_OP_DELETE,		/* a duplicate, or the one an old public_url left behind */
};

/* One app's subscription: what to ask for, what Graph holds, and the work queued. */
struct app_sub {
	struct subscriptions *m;
	char *name;
	char *notification_url;
	char *lifecycle_url;
	struct secret *client_state;
	int64_t lifetime;		/* seconds configured (graph_subscription_lifetime) */
	int64_t max_s;			/* Graph's maximum lifetime, as last stated */
	int64_t margin_s;		/* kept below max_s (clock skew) */
	int expiry_refusals;		/* "expiration too far" answers in a row */
	struct graph_client *gc;
	struct event *timer;

	enum sub_op in_flight;
	char *call_id;			/* the subscription the call in flight is about */
	int64_t asked;			/* the expiration the create or renew in flight asked for */
	int64_t asked_at;		/* when, by rekey's clock */
	int64_t backoff_s;		/* the next retry delay; 0 after a success */
	int backing_off;		/* the timer holds a retry: lifecycle events wait for it */

	/* The live subscription; id NULL when there is none. */
	char *id;
	int64_t expiration;
	int64_t granted;		/* seconds the last create or renew got */
	int64_t created_at;
	int64_t renewed_at;
	int64_t resync_at;

	/* Work for the driver (step), in its order. */
	int listed;			/* the last list found none of ours: create next */
	int renew_now;
	int reauthorize;
	int sweep;			/* list to find duplicates of ours */
	char **doomed;			/* ids to delete once ours is live */
	size_t n_doomed;
	char *replaced;			/* the one that was gone, for the creation's log line */
	const char *replaced_why;
};

struct subscriptions {
	struct store *store;		/* borrowed */
	struct app_sub **apps;
	size_t n;
};

/*
 * Small helpers, static inline so that each file has its own copy.
 */

static inline int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static inline int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* ---- subscriptions.c ---- */

/* The lifetime to ask for: the configured one, never closer to Graph's maximum than the margin. */
int64_t subscriptions_ask_lifetime(const struct app_sub *a);
/* Runs the app's driver ms from now (a negative ms: at once), replacing what the timer held. */
void subscriptions_schedule_ms(struct app_sub *a, int64_t ms);
/* Runs the driver soon, from the event loop, unless a call or a retry delay is pending. */
void subscriptions_kick(struct app_sub *a);
/* Writes the live subscription to the store; a failure is logged and the next start lists. */
void subscriptions_save(struct app_sub *a);
/* Makes id the live subscription (just created, or found at Graph) and stores it; id is copied. */
void subscriptions_take(struct app_sub *a, const char *id, int64_t expiration, int64_t asked_at);
/* The live subscription is no more at Graph: forget it and create a new one (why: static text). */
void subscriptions_gone(struct app_sub *a, const char *why);
/* Queues id (copied) for deletion once ours is live; an id already queued is not added twice. */
void subscriptions_doom(struct app_sub *a, const char *id);

/* ---- subscriptions_answers.c ---- */

/* The retry delay after a failure that is not retryable, in seconds: the backoff's cap. */
int64_t subscriptions_retry_cap(const struct app_sub *a);
/*
 * The callback of every subscription call (arg is the app_sub): settles
 * the answer, records SubscriptionReady, and kicks the driver or schedules
 * the retry.  A cancelled call (the app is being freed) changes nothing.
 */
void subscriptions_done_cb(const struct graph_result *res, void *arg);
/* graph_subscribe_users asks for a subscription this config cannot make: SubscriptionReady false. */
void subscriptions_not_possible(struct subscriptions *m, const char *app, const char *why);

#endif
