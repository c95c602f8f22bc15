/*
 * rotation: the rotation record (a row of the store's rotations) and what is
 * decided from it alone: the states of DESIGN.md and their names, the state
 * machine as a pure function, planning and approving (what the CLI writes),
 * the backoff after failed rotations, and the sealing of a new secret.
 * engine/rotator.h drives the rotations.
 */
#ifndef REKEY_STATE_ROTATION_H
#define REKEY_STATE_ROTATION_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct config_app;
struct secret;
struct store;
struct store_rotation;

enum rotation_state {
	ROTATION_PLANNED,	/* recorded; waits for approval in approve mode */
	ROTATION_CREATING,	/* intent written; addPassword in flight or to be checked */
	ROTATION_CREATED,	/* the new credential and its sealed text are stored */
	ROTATION_TESTING,	/* token requests with the new secret until enough in a row pass */
	ROTATION_TESTED,	/* the identity platform accepted the new secret consistently */
	ROTATION_PUBLISHING,	/* intent written; the Nylas update in flight */
	ROTATION_PUBLISHED,	/* Nylas holds the new secret */
	ROTATION_WATCHING,	/* the new secret is probed for secret_watch_period; the old one stays */
	ROTATION_ROLLING_BACK,	/* the new secret was refused while the old works: the old one goes back */
	ROTATION_RETIRING,	/* the old secret's removal is due or in flight */
	ROTATION_RETIRED,	/* the old secret is gone */
	ROTATION_DONE,		/* finished */
	ROTATION_FAILED,	/* gave up; last_error says why */
};

/*
 * What happened when the driver ran a state's step; rotation_next turns it
 * into the next state.  The driver maps every Graph, Nylas and identity
 * answer to one of these.
 */
enum rotation_outcome {
	ROTATION_OUTCOME_START,		/* the step is about to run (picked up, or just entered) */
	ROTATION_OUTCOME_OK,		/* the step's calls succeeded */
	ROTATION_OUTCOME_RETRYABLE,	/* failed in a way that may pass (transport, 429, 5xx) */
	ROTATION_OUTCOME_PERMANENT,	/* failed in a way that will not pass */
	ROTATION_OUTCOME_NOT_FOUND,	/* the credential the step removes is already gone */
	ROTATION_OUTCOME_REJECTED,	/* testing: the new secret is refused (not yet propagated) */
	ROTATION_OUTCOME_LIFETIME_POLICY, /* creating: the tenant's policy refused the lifetime */
	ROTATION_OUTCOME_ORPHAN_REMOVED, /* creating: an orphan of this rotation was removed */
	ROTATION_OUTCOME_UNMANAGED,	/* retiring: the old secret was not made by rekey */
	ROTATION_OUTCOME_ROOM_MADE,	/* creating: a secret was removed to stay under the two-secret limit */
	ROTATION_OUTCOME_EXPIRED_BURST,	/* watching: grants expired in a burst since publishing */
};
#define ROTATION_OUTCOME_COUNT (ROTATION_OUTCOME_EXPIRED_BURST + 1)

/* What the driver knows of the rotation and its app when it asks. */
struct rotation_facts {
	int approved;		/* planned: approved (always, outside approve mode) */
	int dry_run;		/* records what it would do; writes nothing to Graph or Nylas */
	int secret_stored;	/* the new secret's sealed text is in the rotation */
	int old_known;		/* it is known which secret Nylas used before */
	int old_is_new;		/* ... and that secret is the one just published */
	int grace_over;		/* old_secret_grace has passed since publishing */
	int retire_unmanaged;	/* retire_unmanaged_secrets: also remove secrets rekey did not make */
	int lifetime_at_min;	/* the lifetime asked for is already the shortest (a day) */
	int attempts;		/* tries of this step that failed already */
	int test_ok;		/* testing: consecutive acceptances so far */
	int test_needed;	/* testing: acceptances in a row before publishing */
	int test_timed_out;	/* testing: secret_propagation_timeout has passed */
	int can_roll_back;	/* published: the old secret's text is known (to publish it again) */
	int watch_over;		/* watching: secret_watch_period has passed since publishing */
	int old_works;		/* watching, rejected: the old secret is still accepted */
	int burst;		/* watching, rolling_back: grants expired in a burst while watched */
};

enum rotation_action {
	ROTATION_ACTION_GO,		/* enter next (its tries start afresh) and run its step */
	ROTATION_ACTION_CONTINUE,	/* stay; go on with the step's calls now */
	ROTATION_ACTION_RETRY,		/* stay; one more try counted, after a wait */
	ROTATION_ACTION_AGAIN,		/* stay; run the step again now, no try counted */
	ROTATION_ACTION_WAIT,		/* stay idle until approved or the grace is over */
	ROTATION_ACTION_HOLD,		/* finished: nothing more to do */
	ROTATION_ACTION_PACE,		/* stay; one more pass counted, the step again after a wait */
};

struct rotation_step {
	enum rotation_state next;	/* the state after the decision (the same one when staying) */
	enum rotation_action action;
	int max_tries;			/* RETRY: the tries of this step before it gives up */
	int wait_ms;			/* RETRY: a fixed pace, or -1: Retry-After, else backoff */
	int gave_up;			/* next is failed because the tries ran out */
	const char *note;		/* static text when the facts decided a stop, else NULL */
};

/*
 * The state machine of DESIGN.md as a pure function: where outcome o of
 * state s leads, given facts f.  The driver asks it for every transition.
 * Combinations the driver never produces lead to failed (done and failed
 * themselves hold).
 */
struct rotation_step rotation_next(enum rotation_state s, enum rotation_outcome o,
    const struct rotation_facts *f);
/* "start" ... "unmanaged", for messages and tests. */
const char *rotation_outcome_name(enum rotation_outcome o);

/* "planned" ... "failed": the names of the contract. */
const char *rotation_state_name(enum rotation_state s);
/* 0 and *out, or -1 for an unknown name. */
int rotation_state_parse(const char *name, enum rotation_state *out);

/* Longest rotation id (a GUID) plus its terminator. */
#define ROTATION_ID_SIZE 37

/*
 * Records a planned rotation of app (reason "incident", "proactive" or
 * "manual"; incident_id may be NULL) unless the app has an unfinished one:
 * then 1 and id_out names that one.  0 and id_out (ROTATION_ID_SIZE bytes)
 * when planned; 2 and *err (caller frees) when a rotation not asked for by
 * an operator (reason other than "manual") must wait for rotation_backoff;
 * -1 and *err (caller frees).  Only writes the store: a running daemon picks
 * the rotation up (this is what the CLI calls).
 */
int rotation_plan(struct store *st, const struct config_app *app, const char *reason,
    const char *incident_id, int dry_run, char *id_out, char **err);
/*
 * Whether a rotation planned now for app (not by an operator) must wait: a
 * failed rotation is followed by rotation_backoff, doubling with each failed
 * rotation in a row up to 32 times it (cert-manager's renewal backoff).  1
 * and *until_ms, *failures (the failed rotations in a row) when it must; 0
 * when not; -1 on a store error.
 */
int rotation_backoff(struct store *st, const struct config_app *app, int64_t now_ms,
    int64_t *until_ms, int *failures);

/*
 * A short stable key of why a rotation failed (its last_error without the
 * request ids and numbers that differ between two tries of the same cause),
 * for the owners' "one notice per cause": 16 hex digits and a terminator.
 */
void rotation_failure_cause(const char *last_error, char out[17]);

/*
 * The failed rotations in a row just before list[i] (list newest first, as
 * store_list_rotations gives it; dry runs skipped): how long the streak was
 * that list[i] ends.  Pure.
 */
int rotation_failed_before(const struct store_rotation *list, size_t n, size_t i);

/*
 * A burst of grant.expired (INCIDENT_BURST_MIN distinct grants within
 * INCIDENT_BURST_WINDOW_S, stamped by Nylas after the publish) while rotation
 * rotation_id of app was watching: the correlator records it (one app value,
 * owned here, replaced by the next burst), the rotator's watching step reads
 * it.  put: 0 or -1.  get: 1 and *at_ms, *grants when the burst recorded is
 * rotation_id's, 0 when none is, -1 on a store error.
 */
int rotation_burst_put(struct store *st, const char *app, const char *rotation_id,
    int64_t at_ms, int grants);
int rotation_burst_get(struct store *st, const char *app, const char *rotation_id,
    int64_t *at_ms, int *grants);

/* Marks a planned rotation approved.  0, or -1 and *err (unknown id, not planned). */
int rotation_approve(struct store *st, const char *id, char **err);

/*
 * A rotation's new secret is sealed with the master key (AES-256-GCM) and
 * bound by the associated data to the row's app, rotation id and new key id:
 * a sealed text moved to another row (of another app, or naming another key)
 * no longer opens.  rotation_seal puts text into row->secret_ct (row's app,
 * id and new_key_id set); 0 or -1.  rotation_unseal gives it back (caller
 * frees), or NULL.
 */
int rotation_seal(const struct secret *master_key, struct store_rotation *row,
    const struct secret *text);
struct secret *rotation_unseal(const struct secret *master_key, const struct store_rotation *row);
/*
 * Opens row's sealed text with key in either form, bound (rotation_seal)
 * or the older one bound to the rotation id alone; caller frees, or NULL.
 */
struct secret *rotation_unseal_any(const struct secret *key, const struct store_rotation *row);
/*
 * Rows sealed before the binding (their associated data was the rotation id
 * alone) are sealed again the new way, so that they stay readable: the
 * rotations of each app of cfg.  The number sealed again, or -1 (logged).
 */
int rotation_reseal_legacy(struct store *st, const struct config *cfg);

enum publish_kind {
	PUBLISH_SETTINGS,		/* the connector's settings */
	PUBLISH_CREDENTIAL,		/* a connector credential */
};

/* Where a rotation publishes, and what it sends with the secret; borrowed strings. */
struct publish_target {
	enum publish_kind kind;
	const char *credential_id;	/* PUBLISH_CREDENTIAL */
	const char *source;		/* "settings", "config" or "active_credential_id" */
	const char *tenant;		/* sent with client_id and client_secret; NULL: none */
};

#endif
