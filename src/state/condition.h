/*
 * condition: the record of what rekey last saw when it tried to act for an
 * app (cert-manager's conditions): can the rotator sign in and read the app,
 * did the expiry poll succeed, does Nylas hold the connector rekey believes,
 * is the webhook destination there, is the Graph subscription alive.  The
 * engines record each outcome here; health.h turns the records into each
 * app's health for status, metrics and the owners' notices.
 *
 * One record per (app, type) in the store's app values, key
 * "condition:<Type>", value a small JSON object.  This module is its only
 * writer and parser.  A record is written only when its status, reason,
 * message or permanence changes, so an hourly poll that keeps seeing the same
 * thing costs no write.
 */
#ifndef REKEY_STATE_CONDITION_H
#define REKEY_STATE_CONDITION_H

#include <stdint.h>

struct store;

enum condition_type {
	CONDITION_ROTATOR_READY,	/* the rotator signs in with its certificate and reads the app */
	CONDITION_SECRETS_READ,		/* the last expiry poll succeeded */
	CONDITION_SECRET_FRESH,		/* the in-use secret is not within rotate_before of its end */
	CONDITION_CONNECTOR_READY,	/* the Nylas API key works; the connector holds the app rekey rotates */
	CONDITION_WEBHOOK_REGISTERED,	/* a Nylas webhook destination delivers to rekey */
	CONDITION_SUBSCRIPTION_READY,	/* the Graph /users subscription is alive */
	CONDITION_ROTATOR_CERT_FRESH,	/* the rotator certificate is not near its own end */
	CONDITION_ROTATION_POSSIBLE,	/* a new secret can be added (two-secret limit, lifetime policy) */
};
#define CONDITION_TYPE_COUNT (CONDITION_ROTATION_POSSIBLE + 1)

enum condition_status {
	CONDITION_TRUE,
	CONDITION_FALSE,
	CONDITION_UNKNOWN,
};

#define CONDITION_REASON_MAX 64
#define CONDITION_MESSAGE_MAX 600

struct condition {
	enum condition_type type;
	enum condition_status status;
	int permanent;			/* false and needs a person: critical at once */
	char reason[CONDITION_REASON_MAX];	/* CamelCase, e.g. "Forbidden" */
	char message[CONDITION_MESSAGE_MAX];	/* what was seen and the fix */
	int64_t since;			/* Unix seconds: when status last changed */
	int64_t false_since;		/* true again: when the false spell it ended began; else 0 */
};

/* "RotatorReady" ... "RotationPossible". */
const char *condition_type_name(enum condition_type t);
/* "true", "false", "unknown". */
const char *condition_status_name(enum condition_status s);

/*
 * Records what an engine just saw for app at now (Unix seconds).  The store
 * is written only when status, reason, message or permanence differ from the
 * stored record; since moves only when status changes.  message and reason
 * may be NULL (empty).  0, or -1 when the store failed (the caller logs).
 */
int condition_record(struct store *st, const char *app, enum condition_type t,
    enum condition_status status, int permanent, const char *reason, const char *message,
    int64_t now);

/* The stored record of (app, t): 1 and *out, 0 when none, -1 on a store error. */
int condition_get(struct store *st, const char *app, enum condition_type t, struct condition *out);

/*
 * Every stored record of app: rec[t] and ptr[t] = &rec[t] for those found,
 * ptr[t] = NULL for the others.  One read.  0 or -1.
 */
int condition_list(struct store *st, const char *app, struct condition rec[CONDITION_TYPE_COUNT],
    const struct condition *ptr[CONDITION_TYPE_COUNT]);

/* Parses a stored value into *out (type set by the caller's t).  0 or -1.  Pure, for tests. */
int condition_parse(const char *json, enum condition_type t, struct condition *out);

#endif
