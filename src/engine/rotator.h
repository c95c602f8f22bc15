/*
 * rotator: the driver of the secret rotation state machine of DESIGN.md
 * (state/rotation.h), durable and resumable.  Each step writes its intent to
 * the store before its external call and its result after; secretText is
 * sealed with the master key (rotation_seal: bound to app, rotation id and
 * key id) in the transaction that records "created".  Credential changes
 * are serialised per app.  The daemon's rotator drives every unfinished
 * rotation found in the store (also those planned or approved by the CLI,
 * which writes the store directly).
 */
#ifndef REKEY_ENGINE_ROTATOR_H
#define REKEY_ENGINE_ROTATOR_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct config_app;
struct event_base;
struct graph_application;
struct http_client;
struct secret;
struct store;

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

struct nylas_connector;
/*
 * Where app's new secrets go given the connector as Nylas shows it:
 * nylas_connector_credential_id, else its active_credential_id, else
 * settings, with the tenant Nylas holds (never the app's home tenant in its
 * place).  0 and *t (borrowing from app and c), or -1 and *why (caller frees)
 * when rekey cannot publish there without narrowing or dropping the tenant.
 */
int rotation_publish_target(const struct config_app *app, const struct nylas_connector *c,
    struct publish_target *t, char **why);

struct rotator;
struct journal;

/*
 * Drives the store's unfinished rotations on base; a new one is made on
 * reload.  Reads through st; writes through journal (durable ops), so that
 * the event loop never waits for the disk.  Never NULL.
 */
struct rotator *rotator_new(struct event_base *base, struct http_client *hc,
    const struct config *cfg, struct store *st, struct journal *journal);
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
