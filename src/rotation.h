/*
 * rotation: the secret rotation state machine of DESIGN.md, one enum and one
 * driver, durable and resumable.  Each step writes its intent to the store
 * before its external call and its result after; secretText is sealed with
 * the master key (crypto_aead_seal, aad = the rotation id) in the transaction
 * that records "created".  Credential
 * changes are serialised per app.  The daemon's rotator drives every
 * unfinished rotation found in the store (also those planned or approved by
 * the CLI, which writes the store directly).
 */
#ifndef REKEY_ROTATION_H
#define REKEY_ROTATION_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct config_app;
struct event_base;
struct graph_application;
struct http_client;
struct secret;
struct store;

enum rotation_state {
	ROTATION_PLANNED,	/* recorded; waits for approval in approve mode */
	ROTATION_CREATING,	/* intent written; addPassword in flight or to be checked */
	ROTATION_CREATED,	/* the new credential and its sealed text are stored */
	ROTATION_TESTING,	/* token requests with the new secret until it works */
	ROTATION_TESTED,	/* the identity platform accepted the new secret */
	ROTATION_PUBLISHING,	/* intent written; the Nylas update in flight */
	ROTATION_PUBLISHED,	/* Nylas holds the new secret */
	ROTATION_RETIRING,	/* the old secret's removal is due or in flight */
	ROTATION_RETIRED,	/* the old secret is gone */
	ROTATION_DONE,		/* finished */
	ROTATION_FAILED,	/* gave up; last_error says why */
};

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
 * when planned; -1 and *err (caller frees).  Only writes the store: a
 * running daemon picks the rotation up (this is what the CLI calls).
 */
int rotation_plan(struct store *st, const struct config_app *app, const char *reason,
    const char *incident_id, int dry_run, char *id_out, char **err);
/* Marks a planned rotation approved.  0, or -1 and *err (unknown id, not planned). */
int rotation_approve(struct store *st, const char *id, char **err);

/*
 * The secret Nylas uses for app as rekey knows it: the newest published
 * rotation's secret (unsealed with master_key), else current_secret_file.
 * A new secret (caller frees), or NULL when rekey cannot tell.  *source (may
 * be NULL) says which: "published rotation <id>" or "current_secret_file".
 */
struct secret *rotation_in_use_secret(struct store *st, const struct config *cfg,
    const struct config_app *app, const char **source);

/*
 * The keyId of the in-use secret among a's passwordCredentials: the newest
 * published rotation's key when it is still listed, else the one whose hint
 * is the first 3 characters of current_secret_file.  NULL when it cannot be
 * told, with *why (static text) saying so ("no current_secret_file",
 * "2 credentials share hint abc", "no credential has hint abc").  Caller frees.
 */
char *rotation_in_use_key(struct store *st, const struct config_app *app,
    const struct graph_application *a, const char **why);

struct rotator;

/* Drives the store's unfinished rotations on base; a new one is made on reload.  Never NULL. */
struct rotator *rotator_new(struct event_base *base, struct http_client *hc,
    const struct config *cfg, struct store *st);
/* Abandons calls in flight (their intent stays stored: the next rotator resumes).  NULL: no-op. */
void rotator_free(struct rotator *r);
/* Look at the store now (a rotation was planned or approved). */
void rotator_wake(struct rotator *r);
/*
 * What the expiry poll read: plans a proactive rotation when the in-use
 * secret ends within rotate_before, and records a warning once per
 * warn_before threshold crossed ("warned:<keyId>:<seconds>" in app values).
 */
void rotator_expiry_seen(struct rotator *r, const char *app, const struct graph_application *a);

#endif
