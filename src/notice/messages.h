/*
 * messages: what rekey tells people, rendered from one notice.  Pure
 * functions, no I/O: a notice (what happened, what rekey did, what is left)
 * becomes a subject, a plain-text body, a Slack and a Teams webhook body and
 * a Standard Webhooks JSON payload, all saying the same facts
 * (notice/email.h makes a complete RFC 5322 email of one).
 *
 * Every string of a notice may hold any bytes: the texts show it as valid
 * UTF-8 (U+FFFD for the rest), on one line, bounded; the JSON bodies are
 * built with cJSON.
 */
#ifndef REKEY_NOTICE_MESSAGES_H
#define REKEY_NOTICE_MESSAGES_H

#include "notice/notice.h"

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

#endif
