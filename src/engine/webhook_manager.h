/*
 * webhook_manager: the Nylas webhook destination that delivers to rekey,
 * managed by the daemon.  Register finds the destination whose webhook_url
 * is {public_url}/webhooks/nylas/{app}, else creates it (Nylas's challenge
 * reaches this daemon meanwhile) and keeps the secret Nylas returns; what
 * differs on an existing one is changed only when asked (fix).  Rotate
 * calls rotate-secret inside a rotation window (nylas_secrets) and commits
 * the new secret before the window ends, so that no delivery is answered
 * 401 meanwhile.  Also: registration at start (nylas_webhook_manage),
 * scheduled rotation (nylas_webhook_secret_rotate_every), and recovery of a
 * rotation a crash cut short.
 */
#ifndef REKEY_ENGINE_WEBHOOK_MANAGER_H
#define REKEY_ENGINE_WEBHOOK_MANAGER_H

#include "state/webhook_commands.h"

struct http_client;
struct runtime;

struct webhook_manager *webhook_manager_new(struct runtime *rt, struct http_client *hc);
/* Operations in flight hear "cancelled" (a rotation's outcome is then unknown).  NULL: no-op. */
void webhook_manager_free(struct webhook_manager *m);

/*
 * At start: a rotation the store shows "calling" (rekey stopped before
 * Nylas's answer was stored) is recorded "unknown", the operator is told,
 * and the app's window is reopened for the grace; then the apps with
 * nylas_webhook_manage are registered.
 */
void webhook_manager_start(struct webhook_manager *m);

/* A webhook_register_fn (state/webhook_commands.h). */
void webhook_manager_register(struct webhook_manager *m, const char *app, int fix,
    webhook_done_cb cb, void *arg);
/* A webhook_rotate_fn (state/webhook_commands.h). */
void webhook_manager_rotate(struct webhook_manager *m, const char *app, const char *reason,
    webhook_done_cb cb, void *arg);

#endif
