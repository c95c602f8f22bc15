/*
 * health: each app's conditions (condition.h) and the health they add up
 * to, as the contract of DESIGN.md has them: "ok", "warning" or "critical".
 *
 * Recorded conditions (RotatorReady, SecretsRead, ConnectorReady,
 * WebhookRegistered, SubscriptionReady) come from the store as the engines
 * left them; SecretFresh and RotatorCertFresh are derived here from the facts
 * status gathers (the secrets as last read, the rotations, the rotator
 * certificate's dates).  A false condition that needs a person is critical at
 * once; a transient one is a warning until it has lasted condition_grace.
 * SubscriptionReady is at most a warning: without user notifications rekey
 * still watches and rotates the secret.
 * Unknown (not checked yet, not configured) is a warning: rekey is not sure
 * it can act, and says so.  Pure: the caller reads the store.
 */
#ifndef REKEY_STATE_HEALTH_H
#define REKEY_STATE_HEALTH_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "state/condition.h"

struct config;
struct config_app;

enum health_level {
	HEALTH_OK,
	HEALTH_WARNING,
	HEALTH_CRITICAL,
};

/* What status knows of an app besides its recorded conditions. */
struct health_facts {
	const struct condition *recorded[CONDITION_TYPE_COUNT];	/* NULL: none stored */
	int secrets_known;		/* the expiry poll stored the app's secrets once */
	int64_t secrets_read_at;	/* Unix seconds of the last successful read; 0: never */
	const char *in_use_key_id;	/* NULL: unknown */
	const char *in_use_hint;
	const char *in_use_why;		/* why it is unknown, or NULL */
	int64_t in_use_end;		/* Unix seconds; 0: unknown */
	const char *rotation_id;	/* an unfinished rotation, or NULL */
	const char *rotation_state;
	int cert_read;			/* 1: cert dates below; -1: the file could not be read; 0: no file */
	int64_t cert_not_after;
	const char *cert_error;		/* why it could not be read */
};

/* One condition as evaluated, with its weight in the app's health. */
struct health_item {
	struct condition c;
	enum health_level level;
	int applies;			/* 0: not part of this app's health (SubscriptionReady unsubscribed) */
};

struct health_report {
	struct health_item items[CONDITION_TYPE_COUNT];
	enum health_level level;	/* the worst applicable item */
};

/* Evaluates app's conditions at now (Unix seconds). */
void health_evaluate(const struct config *cfg, const struct config_app *app,
    const struct health_facts *f, int64_t now, struct health_report *out);

/* "ok", "warning", "critical". */
const char *health_level_name(enum health_level l);

/* The report as the contract's "conditions" array (each with "level" too).  Caller deletes. */
cJSON *health_conditions_json(const struct health_report *r);

#endif
