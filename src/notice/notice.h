/*
 * notice: what rekey has to tell, as one record: what happened, what rekey
 * did about it, what is left.  The engine fills one in; notice/messages.h
 * renders it for people, notice/kinds.h names its kind.  A notice never
 * holds secret text (a key's hint, the first characters Graph shows of it,
 * is all there is).
 */
#ifndef REKEY_NOTICE_NOTICE_H
#define REKEY_NOTICE_NOTICE_H

#include <stddef.h>
#include <stdint.h>

enum notice_kind {
	NOTICE_EXPIRY_WARNING,     /* in-use secret ends within a warn_before threshold */
	NOTICE_INCIDENT_OPENED,
	NOTICE_ROTATION_DONE,      /* new secret tested and published to Nylas */
	NOTICE_ROTATION_FAILED,
	NOTICE_ROTATION_WAITING,   /* approve mode: planned, waiting for `rekey approve` */
	NOTICE_LIFETIME_SHORTENED, /* tenant policy refused secret_lifetime; rekey used a shorter one */
	NOTICE_REAUTH_DIGEST,      /* progress of affected users re-authenticating */
	NOTICE_INCIDENT_RESOLVED,
	NOTICE_USER_REAUTH,        /* to ONE affected user: please sign in again, with their link */
	NOTICE_CONDITION_FAILED,   /* rekey cannot act for the app: a condition turned critical */
	NOTICE_CONDITION_RECOVERED, /* ... and it can again */
	NOTICE_CERT_EXPIRY_WARNING, /* the rotator certificate ends within a warn_before threshold */
	NOTICE_WEBHOOK_SECRET_ROTATED, /* rekey rotated the Nylas webhook destination's secret */
	NOTICE_SP_SECRET_EXPIRY_WARNING, /* a service principal secret (never rotated) ends within a warn_before threshold */
	NOTICE_ROTATION_RECOVERED, /* ROTATION_DONE after failed rotations: the streak is over */
};
#define NOTICE_KIND_COUNT (NOTICE_ROTATION_RECOVERED + 1)

/*
 * What a notice is about.  Strings are borrowed (NULL or "" = not set);
 * times are Unix ms (0 = unknown or not applicable).  Which fields a kind
 * needs: see message_render (notice/messages.h).
 */
struct notice {
	enum notice_kind kind;
	const char *app;              /* rekey app name, e.g. "prod" */
	const char *azure_client_id;  /* the Azure app registration (appId) */
	int64_t now_ms;
	const char *status_hint;      /* where to see details, e.g. "rekey status -c /etc/rekey.conf" or a URL; may be NULL */
	const char *config_path;      /* the config file, for the commands the texts give (`rekey approve -c ...`); may be NULL */
	/* incident (INCIDENT_*, REAUTH_DIGEST, ROTATION_* when triggered by one) */
	const char *incident_id, *cause;   /* cause ∈ secret_expired, secret_invalid, user_disabled, user_deleted, user_sessions_revoked, user_password_changed, suspected_app_wide, unknown */
	const char *const *evidence; size_t n_evidence;   /* one-line strings */
	int64_t affected, recovered;
	int64_t opened_at_ms, resolved_at_ms;
	const char *resolved_by;      /* "all users re-authenticated" (or "recovered") | "operator" */
	/* rotation */
	const char *rotation_id, *rotation_reason;   /* incident, proactive, manual */
	const char *rotation_state;   /* failed: the state it failed in ("publishing", ...); may be NULL */
	const char *new_key_id, *new_hint;           /* NEVER a secret */
	int64_t new_end_ms, published_at_ms, retire_at_ms;   /* 0 = unknown/not applicable */
	const char *old_key_id, *old_hint;
	const char *last_error; int64_t next_retry_ms;       /* failed; next_retry_ms 0 or past = gave up */
	int64_t lifetime_requested_days, lifetime_granted_days;
	const char *rotation_mode;    /* auto | approve | dry-run */
	/* warning (EXPIRY_WARNING, SP_SECRET_EXPIRY_WARNING) */
	const char *key_id, *hint; int64_t end_ms, threshold_s, rotate_at_ms;
	/* user reauth */
	const char *email, *reauth_url;
	/* condition (CONDITION_*): type "RotatorReady"..., reason, message; since = false since */
	const char *condition_type, *condition_reason, *condition_message;
	int64_t condition_since_ms, condition_until_ms;	/* until: when it recovered */
	/* certificate warning: end_ms and threshold_s above, and the file */
	const char *certificate;
	/* webhook secret rotated: the destination, rotation_reason above, the old secret's grace */
	const char *webhook_id;
	int64_t webhook_grace_until_ms;
	/* service principal secret warning: key_id, hint, end_ms, threshold_s above, and its display name */
	const char *display_name;
	/* rotation recovered: the failed rotations in a row that this one ends */
	int64_t failed_in_a_row;
};

#endif
