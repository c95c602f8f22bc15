/*
 * messages: what rekey tells people, rendered from one notice.  Pure
 * functions, no I/O: a notice (what happened, what rekey did, what is left)
 * becomes a subject, a plain-text body, a Slack and a Teams webhook body and
 * a Standard Webhooks JSON payload, all saying the same facts; and a
 * rendered message becomes a complete RFC 5322 email.
 *
 * Every string of a notice may hold any bytes: the texts show it as valid
 * UTF-8 (U+FFFD for the rest), on one line, bounded; the JSON bodies are
 * built with cJSON.  A notice never holds secret text (a key's hint, the
 * first characters Graph shows of it, is all there is).
 */
#ifndef REKEY_NOTICE_MESSAGES_H
#define REKEY_NOTICE_MESSAGES_H

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
};
#define NOTICE_KIND_COUNT (NOTICE_WEBHOOK_SECRET_ROTATED + 1)

/*
 * What a notice is about.  Strings are borrowed (NULL or "" = not set);
 * times are Unix ms (0 = unknown or not applicable).  Which fields a kind
 * needs: see message_render.
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
	/* warning */
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
};

/* A rendered notice; every string is owned (message_clear). */
struct message {
	char *event_type;   /* Standard Webhooks style type, e.g. "rekey.incident.opened" */
	char *subject;      /* one line, no CR/LF, for email and titles */
	char *text;         /* plain text body, "\n" lines, for email */
	char *slack_json;   /* {"text": fallback, "blocks":[...]} Slack incoming webhook body */
	char *teams_json;   /* {"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{AdaptiveCard 1.4 with TextBlocks / FactSet}}]} */
	char *webhook_json; /* {"type": event_type, "timestamp": RFC3339, "data": {...all the notice's fields that are set, as JSON...}} */
};

/*
 * Renders n into *out (cleared first).  0, or -1 with *err (caller frees)
 * when the notice lacks what its kind needs.  Every kind needs app and
 * now_ms; then EXPIRY_WARNING key_id and end_ms; INCIDENT_OPENED incident_id
 * and cause; ROTATION_DONE rotation_id and new_key_id (not in dry-run mode);
 * ROTATION_FAILED rotation_id and last_error; ROTATION_WAITING rotation_id;
 * LIFETIME_SHORTENED both lifetimes, granted < requested; REAUTH_DIGEST and
 * INCIDENT_RESOLVED incident_id; USER_REAUTH email and an http(s) reauth_url.
 * A cause or rotation_mode that is set must be one of the known names.
 */
int message_render(const struct notice *n, struct message *out, char **err);
/* Frees m's strings and sets them to NULL; NULL is a no-op. */
void message_clear(struct message *m);

/*
 * A complete RFC 5322 message, CRLF line endings: From, To, Subject (RFC 2047
 * encoded-words when not ASCII), Date (from date_ms), Message-ID
 * <message_id> (brackets added unless given), MIME-Version 1.0, Content-Type
 * text/plain; charset=utf-8, Content-Transfer-Encoding quoted-printable
 * (lines <= 76), Auto-Submitted: auto-generated, X-Auto-Response-Suppress:
 * All; the body quoted-printable encoded.  NULL when a header value holds CR,
 * LF or another control character, or is empty or too long.  Caller frees.
 */
char *message_email(const struct message *m, const char *from, const char *to,
    const char *message_id, int64_t date_ms);

/* "expiry_warning", "incident_opened", ...; "unknown" out of range. */
const char *notice_kind_name(enum notice_kind k);

#endif
