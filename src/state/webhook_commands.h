/*
 * webhook_commands: what the admin API (intake/) may ask of the Nylas
 * webhook manager (engine/), which it cannot include: register an app's
 * destination, rotate its secret.  main points the runtime's two commands
 * at webhook_manager_register and webhook_manager_rotate.  Header only.
 */
#ifndef REKEY_STATE_WEBHOOK_COMMANDS_H
#define REKEY_STATE_WEBHOOK_COMMANDS_H

struct webhook_manager;

/* What an operation came to; valid only during the callback. */
struct webhook_outcome {
	int status;			/* for the admin API: 200, 201, 404, 409, 502, 503 */
	const char *result;		/* created, unchanged, found, differs, fixed, rotated,
					 * failed, unknown, busy, error, cancelled */
	const char *message;		/* one line for the operator */
	const char *webhook_id;		/* NULL when not known */
};
typedef void (*webhook_done_cb)(const struct webhook_outcome *o, void *arg);

/* Register app's destination (fix: change what differs).  cb runs once, maybe before this returns. */
typedef void (*webhook_register_fn)(struct webhook_manager *m, const char *app, int fix,
    webhook_done_cb cb, void *arg);
/* Rotate app's destination secret; reason is "manual" or "scheduled".  cb likewise. */
typedef void (*webhook_rotate_fn)(struct webhook_manager *m, const char *app, const char *reason,
    webhook_done_cb cb, void *arg);

#endif
