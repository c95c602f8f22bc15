/*
 * rotator_internal: what the rotator's files share, and no other module
 * includes.  One app's rotation work (struct app_rot); the driver's parts
 * (engine/rotator.c) that the calls of each state use; and the calls of each
 * state that the driver starts (rotation_graph.c, rotation_publish.c,
 * rotation_probe.c).  The rotator's API is engine/rotator.h.
 */
#ifndef REKEY_ENGINE_ROTATOR_INT_H
#define REKEY_ENGINE_ROTATOR_INT_H

#include "outbound/graph.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdint.h>

struct config;
struct config_app;
struct event;
struct event_base;
struct http_client;
struct journal;
struct nylas_client;
struct nylas_result;
struct graph_app_policy;
struct saving;
struct secret;

/* Unfinished rotations read at a time (one per app is the rule). */
#define SCAN_MAX 64
/* A lifetime policy rejection halves the lifetime, never below a day. */
#define LIFETIME_MIN_S 86400

/* One app's rotation work: its clients and the rotation being driven. */
struct app_rot {
	struct rotator *r;
	const struct config_app *app;	/* borrowed from the rotator's config */
	struct graph_client *gc;
	struct nylas_client *nc;
	char *object_id;		/* azure_app_object_id, else found from appId */
	struct store_rotation row;	/* the rotation being driven; valid while busy */
	int busy;			/* a rotation is being driven (a call may be in flight) */
	struct probe *probe;		/* the identity probe in flight, or NULL */
	const char *step;		/* the call in flight, for the duration metric */
	int64_t call_started_us;
	struct event *timer;		/* the next try of a deferred step */
	char *told_waiting;		/* the rotation already logged as waiting for approval */
	struct saving *saving;		/* the row's write in flight, or NULL */
	int retry_max;			/* the tries the step being retried has (for its log line) */
	char *orphan_key;		/* creating: this rotation's credential found without its text */
	char *target;			/* where Nylas gets the secret, as last read (for logs) */
	int to_credential;		/* ... and whether that is a connector credential */
	struct publish_target sent;	/* publishing: where the update went (strings below or static) */
	char *sent_cred;		/* ... its credential id, owned */
	char *sent_tenant;		/* ... the tenant sent with it, owned; NULL: none */
	int room_made;			/* creating: secrets removed for the two-secret limit this run */
	int old_works;			/* watching: the old secret was just accepted (for rotation_next) */
	char *room_key;			/* ... the one being removed */
	/* creating: the app management policies read before the add (rotation_policy.c). */
	struct graph_app_policy *pol_tenant;	/* the tenant default, or NULL */
	struct graph_app_policy *pol_assigned;	/* the app's own, or NULL: none */
	int pol_read;			/* 1 read, -1 unreadable (pol_why), 0 not this run */
	char *pol_why;
	char *burst_checked;		/* watching: the rotation whose grant.expired burst was looked at */
};

/* What a rotation does once its row is durably stored (see rotator_save_then). */
typedef void (*saved_fn)(struct app_rot *a);

/*
 * An identity probe cannot be cancelled (it runs on the shared http client),
 * so it holds this small record; rotator_free detaches it and the callback
 * frees it.
 */
struct probe {
	struct app_rot *a;
};

struct rotator {
	struct event_base *base;
	struct http_client *hc;
	const struct config *cfg;
	struct store *st;
	struct journal *journal;	/* the rotations' writes (rotator_save_then) */
	struct app_rot **apps;
	size_t n_apps;
	struct event *scan;		/* every SCAN_S, and made active by rotator_wake */
};

/* ---- The driver (engine/rotator.c) ---- */

/* The time now, in Unix seconds. */
int64_t rotator_now_s(void);
/* The rotation work of the app named name, or NULL when the rotator has none for it. */
struct app_rot *rotator_find_rot(struct rotator *r, const char *name);
/* A call of the step named step is sent: rotator_call_done publishes how long it took. */
void rotator_call_started(struct app_rot *a, const char *step);
/* Publishes how long the call that just answered took. */
void rotator_call_done(struct app_rot *a);
/* The rotation is no longer driven until the next scan. */
void rotator_idle(struct app_rot *a);
/* The rotation is idle for ms, then the scan drives its step again (no try counted). */
void rotator_look_again_in(struct app_rot *a, int64_t ms);
/* Replaces *field (freed) with a copy of text cut at NOTE_MAX bytes, or NULL. */
void rotator_set_text(char **field, const char *text);
/*
 * Writes the row as it stands through the journal, then does `then` once it
 * is durable; when the write fails the log says so (and `lost`, if given)
 * and the rotation is left idle.
 */
void rotator_save_then(struct app_rot *a, saved_fn then, const char *lost);
/* Logs the row's state. */
void rotator_log_state(struct app_rot *a);
/* Runs the step of the row's state: the driver's one switch over the states. */
void rotator_drive(struct app_rot *a);
/*
 * Enters st->next with its entry effects, once stored: done and failed end
 * the rotation (the step's note, else why, says why), published and retiring
 * drive on, and any other state does `then`.
 */
void rotator_enter(struct app_rot *a, const struct rotation_step *st, const char *why, saved_fn then);
/*
 * Does what st says; why is the error or note of the outcome, retry_after_ms
 * the service's Retry-After (-1: none).  1 when the caller goes on with the
 * step's calls (CONTINUE), else 0 and the rotation has moved on or is idle.
 */
int rotator_apply(struct app_rot *a, const struct rotation_step *st, const char *why,
    int64_t retry_after_ms);
/* The outcome o of the current step: asks rotation_next and does what it says (see rotator_apply). */
int rotator_decide(struct app_rot *a, enum rotation_outcome o, const char *why, int64_t retry_after_ms);
/* Where outcome o of the current state leads. */
struct rotation_step rotator_next_of(const struct app_rot *a, enum rotation_outcome o);
/* The new secret, unsealed from the row (caller frees), or NULL. */
struct secret *rotator_new_secret(struct app_rot *a);
/*
 * The secret Nylas had before this rotation published, to put back: the
 * newest other published rotation's, else current_secret_file.  A new
 * secret (caller frees) or NULL.
 */
struct secret *rotator_old_secret(const struct app_rot *a);
/* The credential of app with key_id, or NULL. */
const struct graph_password *rotator_find_key(const struct graph_application *app, const char *key_id);

/* ---- The calls of each state ---- */

/* Reads the application (and learns its object id); cb gets the answer (rotation_graph.c). */
void rotator_read_app(struct app_rot *a, graph_cb cb, const char *step);
/* planned: the app read after the connector's; then creating, or a dry run's end. */
void rotator_planned_read_cb(const struct graph_result *res, void *arg);
/* creating: the app just before the add; an orphan goes, or room is made, else addPassword. */
void rotator_creating_read_cb(const struct graph_result *res, void *arg);
/* retiring: the app read; the old secret is removed unless it is kept. */
void rotator_retiring_read_cb(const struct graph_result *res, void *arg);
/*
 * creating: reads the app management policies (rotation_policy.c), then the
 * app (rotator_creating_read_cb).  Unreadable policies are noted, not fatal.
 */
void rotator_read_policies(struct app_rot *a);
/*
 * creating, the app just read: 1 when addPassword may go on (the row's
 * lifetime capped to a policy's maxLifetime that applies), 0 when a policy
 * forbids client secrets for the app (the rotation has stopped, and
 * RotationPossible says why).
 */
int rotator_policy_allows(struct app_rot *a, const struct graph_application *app);
/* addPassword was refused with CredentialTypeNotAllowedAsPerAppPolicy: stops as a ban read does. */
void rotator_policy_refused(struct app_rot *a, const struct graph_result *res);
/* Frees the policies read (app_rot_free, and before each read). */
void rotator_policy_forget(struct app_rot *a);
/* planned: reads the connector first (rotation_publish.c). */
void rotator_read_target(struct app_rot *a);
/* publishing: reads the connector, updates it with the new secret and reads it back. */
void rotator_publish(struct app_rot *a);
/* rolling_back: puts the old secret back where the new one went. */
void rotator_roll_back(struct app_rot *a);
/* testing: a token request with the new secret (rotation_probe.c). */
void rotator_test_secret(struct app_rot *a);
/*
 * watching: a token request with the published secret; first, when the
 * correlator recorded a burst of grant.expired for the rotation, one with
 * the old secret (to roll back to it if it works).
 */
void rotator_watch(struct app_rot *a);
/* Whether row (of a) is watching with a burst recorded that was not looked at yet: drive it now. */
int rotator_burst_due(struct app_rot *a, const struct store_rotation *row);

#endif
