/*
 * correlate_internal: what the correlator's files share, and only they:
 * correlate.c (the driver: batches, evidence, classification),
 * correlate_incidents.c (the open incidents of each app),
 * correlate_probe.c (the probe of the in-use secret),
 * correlate_watch.c (a burst of grant.expired while a rotation watches) and
 * correlate_writes.c (the writes, through the journal's writer).  Other
 * modules use correlate.h.  Everything here runs on the event loop, except
 * write ops' run functions (correlate_writes.c, correlate_watch_write), which
 * touch only their op.
 */
#ifndef REKEY_ENGINE_CORRELATE_INT_H
#define REKEY_ENGINE_CORRELATE_INT_H

#include "state/incident.h"
#include "state/store.h"

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct event;
struct http_client;
struct nylas_event;
struct runtime;

/* Incident slots per app: the app-side one, then one per user cause. */
#define SLOT_APP 0
#define N_SLOTS 5
#define HINT_LEN 3

/* One open incident as the correlator keeps it between batches. */
struct incident {
	char *id;
	enum incident_cause cause;
	cJSON *evidence;		/* array of strings, as stored */
	char *why;			/* the evidence that decided the cause, for the log; may be NULL */
	char *rotation_id;		/* NULL until one is planned or joined */
	int64_t opened_at;
	int64_t affected, recovered;
	int64_t logged_affected;	/* affected at the last log line */
	enum incident_cause logged_cause;
	int is_new;			/* opened since the last commit, not logged yet */
	int rotation_new;		/* its rotation was planned for it, not logged yet */
	int resolved;			/* all its grants recovered: leaves at the commit */
	int dirty;			/* to be written at the end of the transaction */
};

/*
 * An identity probe cannot be cancelled (it runs on the shared http client),
 * so it holds this small record; correlator_free detaches it and the
 * callback frees it.
 */
struct probe_ref {
	struct app_corr *a;
};

struct app_corr {
	struct correlator *c;
	char *name;
	struct incident *slot[N_SLOTS];
	int loaded;
	struct incident_burst burst;
	/* The probe of the in-use secret. */
	struct probe_ref *probe;	/* in flight, or NULL */
	int64_t probe_started_ms;	/* 0: never */
	enum incident_probe probe_result;
	char *probe_text;		/* the evidence line of the last probe; NULL before one */
	char hint[HINT_LEN + 1];	/* of the secret being probed */
	const char *secret_source;	/* static text from rotation_in_use_secret */
	/* The stored passwordCredentials, read once per batch. */
	int credential_ended;
	char *credential_text;
	char *replaced_rotation;	/* a rotation published lately whose old secret has ended */
	char *replaced_text;
	/* The app's rotation being watched, and the grants expired since (correlate_watch.c). */
	char *watch_id;			/* NULL when none is watching */
	int64_t watch_since_ms;		/* its published_at */
	struct incident_burst watch_burst;
	int watch_recorded;		/* the burst of watch_id is recorded (or planned into a write) */
	/* A storm permit is granted (correlate_storm.c). */
	int permitted;
	/* Per batch. */
	int expired_in_batch;
	int recovered_in_batch;
};

struct correlator {
	struct runtime *rt;
	struct http_client *hc;
	struct store *store;		/* its own connection (see correlator_new) */
	struct app_corr **apps;
	size_t n_apps;
	struct event *timer;
	struct event *storm_timer;	/* correlate_storm_tick, every second */
	struct store_pending *queue;
	struct nylas_event *parsed;	/* parallel to queue */
	size_t queue_n;
	int64_t wait_until_us;		/* the batch waits for probes until then */
	struct write_op *batch_op;	/* the batch's writes, at the writer; NULL when none */
	struct write_op *ops;		/* every op at the writer (the batch's too) */
	int retry_s;
	int closing;
	uint64_t processed;
};


/* ---- The writes of a batch, planned on the loop (correlate_writes.c) ---- */

enum write_kind {
	WRITE_MARK,			/* only mark the event processed with its result */
	WRITE_LIST,			/* list the grant in an incident, then mark */
	WRITE_RECOVER,			/* mark the grant's listings recovered, then mark */
};

/* One event's writes, planned on the loop; strings owned. */
struct event_write {
	enum write_kind kind;
	int64_t id;			/* the event's row */
	const char *result;		/* static; the writer settles listed/recovered ones */
	char *app, *incident_id, *grant_id, *email;
	int64_t at_ms;
	size_t app_i;			/* the incident's place, to apply the result */
	int slot;
	int listed;			/* out: newly listed */
	int64_t recovered;		/* out: listings marked recovered */
};

/* An open incident to count again after recoveries; resolved when all are back. */
struct recount {
	size_t app_i;
	int slot;
	char *id;
	int found;			/* out */
	int resolved;			/* out */
	int64_t affected, recovered;	/* out */
};

/* A burst of grant.expired while a rotation watched, to record (rotation_burst_put). */
struct burst_write {
	size_t app_i;
	char *app, *rotation_id;
	int64_t at_ms;
	int grants;
};

struct write_op {
	struct correlator *c;		/* NULL once the correlator is gone */
	struct write_op *next, **prevp;	/* in c->ops while at the writer */
	int is_batch;			/* the batch's op (run waits for it) */
	struct store_incident *rows;	/* incidents to write (copies) */
	size_t n_rows;
	struct event_write *ev;
	size_t n_ev;
	struct recount *recount;
	size_t n_recount;
	struct burst_write *bursts;
	size_t n_bursts;
	int64_t now_ms;
};

/* ---- correlate.c ---- */

/* Whether the in-use passwordCredentials entry (as the expiry poll stored it) has ended. */
void correlate_check_credential(struct app_corr *a);
/* Runs the driver ms from now (0: at the loop's next turn); not once the correlator is closing. */
void correlate_schedule(struct correlator *c, int64_t ms);
/* The journal's writer finished op (its callback): the batch's results are applied; frees op. */
void correlate_write_done(enum store_result result, void *arg);

/* ---- correlate_incidents.c ---- */

/* The incident slot of cause: SLOT_APP, or the user cause's own. */
int correlate_slot_of(enum incident_cause cause);
/* Drops the app's incidents from memory: they are read from the store again. */
void correlate_app_forget(struct app_corr *a);
/* Reads the app's open incidents from the store once (again after a failed transaction). */
int correlate_app_load(struct app_corr *a);
/* The app named name, or NULL. */
struct app_corr *correlate_find_app(struct correlator *c, const char *name);
/* Detaches its probe in flight; NULL is a no-op. */
void correlate_app_free(struct app_corr *a);
/*
 * After a commit: plans the rotations a secret cause calls for, records
 * them in their incidents, tells the operator what changed, drops resolved
 * incidents and sets the gauges.
 */
void correlate_app_after_commit(struct app_corr *a);
/*
 * The incident a grant.expired of cause joins (opened when there is none),
 * with the evidence behind it: the app's for an app-side cause, the user
 * event (email, kind, user_evidence) for a user cause.
 */
struct incident *correlate_incident_for(struct app_corr *a, enum incident_cause cause,
    const char *email, const char *kind, const char *user_evidence, int64_t at_ms);
/* Drops the incidents an operator resolved in the store since they were loaded; 0 or -1. */
int correlate_drop_resolved_elsewhere(struct app_corr *a);
/* A probe answered: a stronger cause upgrades the app-side incident in place. */
void correlate_upgrade_app_incident(struct app_corr *a);

/* ---- correlate_storm.c ---- */

/* Grants or revokes the app's storm permit, as its state now calls for. */
void correlate_storm_update(struct app_corr *a);
/* Before classifying: the grants the writer settled for the app join its burst. */
void correlate_storm_take(struct app_corr *a);
/* Every second: apps with a permit are counted again, logged and checked as a batch would. */
void correlate_storm_tick(struct correlator *c);

/* ---- correlate_probe.c ---- */

/* Starts a probe of the app's in-use secret unless one ran within CORRELATE_PROBE_EVERY_S. */
void correlate_maybe_probe(struct app_corr *a);

/* ---- correlate_watch.c ---- */

/* Once per batch with a grant.expired of the app: which of its rotations is watching. */
void correlate_watch_check(struct app_corr *a);
/*
 * A grant.expired of the app classified as cause: counted towards a burst
 * while a rotation watches, when Nylas stamped it after the publish and no
 * user evidence explains it.
 */
void correlate_watch_count(struct app_corr *a, const struct nylas_event *ev,
    enum incident_cause cause, int64_t received_ms);
/* Plans the bursts of the batch into op (the writer records them with the batch). */
void correlate_watch_plan(struct correlator *c, struct write_op *op);
/* In the writer thread: records op's bursts; 0 or -1. */
int correlate_watch_write(struct store *st, const struct write_op *op);
/* op was committed: its bursts are logged and the rotator woken. */
void correlate_watch_committed(struct correlator *c, const struct write_op *op);
/* NULL-safe: frees op's bursts. */
void correlate_watch_free(struct write_op *op);

/* ---- correlate_writes.c ---- */

/* A new op of c's; is_batch for the batch's own (run waits for it).  Never NULL. */
struct write_op *correlate_write_op_new(struct correlator *c, int is_batch);
/* NULL is a no-op. */
void correlate_write_op_free(struct write_op *op);
/*
 * Adds every changed incident to op and hands it to the journal's writer,
 * which takes it: correlate_write_done gets it back.
 */
void correlate_write_op_submit(struct write_op *op);
/* Writes the incidents changed outside a batch (a rotation planned, a probe's answer). */
void correlate_write_incidents(struct correlator *c);

#endif
