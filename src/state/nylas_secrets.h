/*
 * nylas_secrets: the Nylas webhook secrets rekey manages, that is the ones
 * Nylas gave it in the answer to a destination create or a rotate-secret
 * (the secrets in nylas_webhook_secret_file are the operator's and stay in
 * config).  This module owns their record in the store (app values under
 * "nylas_webhook."): each secret sealed with the master key, the associated
 * data binding it to its app; the previous one with the end of its grace;
 * the destination as last seen; the last rotation and its outcome.
 *
 * It also holds what the intake needs in memory, so that checking a
 * signature costs no store read and no call: the unsealed current and
 * previous secret of each app and whether the app is in a rotation window
 * (a bad signature is then answered 503, which Nylas retries, not 401).
 * The intake loops read what is in memory from their threads while the main
 * loop changes it: a read-write lock guards it (the store functions hold
 * nothing in memory and take none).
 */
#ifndef REKEY_STATE_NYLAS_SECRETS_H
#define REKEY_STATE_NYLAS_SECRETS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct secret;
struct store;

/* The stored facts of one app's destination (no secret); strings owned, NULL when unknown. */
struct nylas_secrets_record {
	char *webhook_id;
	char *url;
	char *triggers;			/* as last seen, comma-separated */
	char *status;			/* as last seen */
	int64_t secret_created_ms;	/* the managed current secret's; 0: none */
	int64_t previous_until_ms;	/* the previous one is accepted until then; 0: none */
	char *rotation_state;		/* calling, done, failed, unknown; NULL: never rotated */
	char *rotation_reason;		/* manual, scheduled */
	char *rotation_error;		/* failed, unknown: why */
	int64_t rotation_at_ms;		/* when rotation_state was written */
	int64_t rotated_ms;		/* the last successful rotation; 0: none */
};

struct nylas_secrets;

struct nylas_secrets *nylas_secrets_new(void);
/* Wipes every secret.  NULL is a no-op. */
void nylas_secrets_free(struct nylas_secrets *ks);

/*
 * Replaces what is in memory with every app's managed secrets read from st
 * and unsealed with cfg's master key (a previous one past its grace is
 * left out).  A secret that does not unseal is logged and skipped.  0 or -1.
 */
int nylas_secrets_load(struct nylas_secrets *ks, struct store *st, const struct config *cfg);

/*
 * For the intake: calls check with the managed secrets a delivery to app may
 * be signed with at now_ms (the current one, and the previous one before
 * its grace passes; 1 or 2 of them), under the lock, so they stay valid
 * during the call only.  check's result, or 0 when app has none.
 */
typedef int (*nylas_secrets_check_fn)(struct secret *const *secrets, size_t n, void *arg);
int nylas_secrets_check(struct nylas_secrets *ks, const char *app, int64_t now_ms,
    nylas_secrets_check_fn check, void *arg);

/* The rotation window of app: open until until_ms (monotonic ms), or closed. */
void nylas_secrets_open_window(struct nylas_secrets *ks, const char *app, int64_t until_ms);
void nylas_secrets_close_window(struct nylas_secrets *ks, const char *app);
/* 1 when app's window is open at now_ms (monotonic ms).  NULL ks: 0. */
int nylas_secrets_in_window(struct nylas_secrets *ks, const char *app, int64_t now_ms);

/*
 * Puts secret in force for app in memory: the current one (if any) becomes
 * the previous, accepted until previous_until_ms (0: dropped at once).
 * Copies secret.
 */
void nylas_secrets_install(struct nylas_secrets *ks, const char *app,
    const struct secret *secret, int64_t created_ms, int64_t previous_until_ms);

/*
 * Seals secret for app and commits it in one transaction of st as the
 * current managed secret; with rotated, the current one moves to previous
 * (accepted until previous_until_ms) and the rotation is recorded done.
 * 0, or -1 (rolled back; logged).
 */
int nylas_secrets_store(struct store *st, const struct config *cfg, const char *app,
    const struct secret *secret, int64_t now_ms, int rotated, int64_t previous_until_ms,
    const char *reason);

/* Records the destination as seen (id, url, triggers, status).  0 or -1. */
int nylas_secrets_put_destination(struct store *st, const char *app, const char *webhook_id,
    const char *url, const char *triggers, const char *status);

/* Records the rotation's state (calling, failed, unknown) and why.  Committed at once; 0 or -1. */
int nylas_secrets_put_rotation(struct store *st, const char *app, const char *state,
    const char *reason, const char *error, int64_t now_ms);

/*
 * The sealed form, for rekey reseal (state/reseal.c).  nylas_secrets_seal
 * seals secret for app under key as hex (caller frees), or NULL;
 * nylas_secrets_open reverses it (caller frees), NULL when it does not open
 * (not logged).
 */
char *nylas_secrets_seal(const struct secret *key, const char *app, const struct secret *secret);
struct secret *nylas_secrets_open(const struct secret *key, const char *app, const char *hex);

enum nylas_secrets_which {
	NYLAS_SECRETS_CURRENT,
	NYLAS_SECRETS_PREVIOUS,
};

/*
 * 1 and *hex (caller frees; "" when the record holds none that can be read)
 * when app has that managed secret stored, 0 when not, -1 on a store error.
 */
int nylas_secrets_get_sealed(struct store *st, const char *app, enum nylas_secrets_which which,
    char **hex);
/*
 * Every app with a managed secret stored (current or previous), whether
 * the config still names it or not: *apps (each and the array: caller
 * frees), *n.  0 or -1.
 */
int nylas_secrets_sealed_apps(struct store *st, char ***apps, size_t *n);
/* Replaces the sealed text of app's stored secret, keeping the rest of its record.  0 or -1. */
int nylas_secrets_put_sealed(struct store *st, const char *app, enum nylas_secrets_which which,
    const char *hex);

/* 0 and *out (nylas_secrets_record_clear), or -1. */
int nylas_secrets_get(struct store *st, const char *app, struct nylas_secrets_record *out);
void nylas_secrets_record_clear(struct nylas_secrets_record *r);

#endif
