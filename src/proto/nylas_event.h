/*
 * proto/nylas_event: the Nylas webhook envelope (a grant.* event and the
 * others rekey journals) parsed without HTTP or store, and the
 * X-Nylas-Signature check (HMAC-SHA256 of the raw body, hex).
 */
#ifndef REKEY_PROTO_NYLAS_EVENT_H
#define REKEY_PROTO_NYLAS_EVENT_H

#include <stddef.h>
#include <stdint.h>

struct secret;

/* Bounds on what an envelope may carry. */
#define NYLAS_ID_MAX 256
#define NYLAS_TYPE_MAX 128
#define NYLAS_FIELD_MAX 512
#define NYLAS_JSON_DEPTH_MAX 32

/* A parsed envelope; strings are owned (nylas_event_clear frees them). */
struct nylas_event {
	char *id;
	char *type;
	char *application_id;
	int64_t time;			/* -1 when absent */
	int is_grant;			/* grant.created/updated/deleted/expired */
	char *grant_id;
	char *email;
	char *provider;
	char *integration_id;
	int64_t code;			/* -1 when absent */
	int64_t grant_updated_at;	/* -1 when absent */
	int reauth_flag;		/* 1, 0, or -1 when absent */
};

/* 0 and *ev filled, or -1 and *err (a short reason, caller frees). */
int nylas_parse_envelope(const char *json, size_t len, struct nylas_event *ev, char **err);
void nylas_event_clear(struct nylas_event *ev);
/* 1 for the grant event types (grant.created/updated/deleted/expired). */
int nylas_is_grant_type(const char *type);
/* A bounded label for metrics: the known grant types (static text), else "other". */
const char *nylas_type_label(const char *type);

/*
 * 1 when header (lowercase or uppercase hex HMAC-SHA256 of body, optional
 * "sha256=" prefix, surrounding whitespace allowed) matches one of the secrets.
 */
int nylas_signature_matches(const char *header, const void *body, size_t len,
    struct secret *const *secrets, size_t n);

#endif
