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

struct config;
struct event_base;
struct graph_application;
struct http_client;
struct journal;
struct rotator;
struct store;

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
