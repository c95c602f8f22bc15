/*
 * outbound/nylas_parse: the Nylas v3 API's answers as structs, and what an
 * answer means for the caller (enum nylas_outcome).  Pure functions, no
 * HTTP: nylas.h's calls hand the results to their callers, and the unit
 * tests, the fuzz targets and rekey doctor call them directly.
 */
#ifndef REKEY_OUTBOUND_NYLAS_PARSE_H
#define REKEY_OUTBOUND_NYLAS_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "outbound/http_client.h"

struct secret;

/* Bounds. */
#define NYLAS_API_MAX_RESPONSE (1024 * 1024)
#define NYLAS_API_FIELD_MAX 1024
#define NYLAS_GRANTS_LIMIT_DEFAULT 200
#define NYLAS_GRANTS_LIMIT_MAX 1000
#define NYLAS_GRANTS_PAGES_MAX 50
#define NYLAS_GRANTS_MAX 50000
#define NYLAS_SCOPES_MAX 64

enum nylas_outcome {
	NYLAS_OK,
	NYLAS_NOT_FOUND,		/* 404 */
	NYLAS_RETRYABLE,		/* transport, 429, 5xx still failing at the end of the budget */
	NYLAS_PERMANENT,		/* anything else: see error type, message, request id */
	NYLAS_CANCELLED,		/* the client or the http_client was freed first */
};

/* Nylas's error envelope; strings owned (nylas_error_clear), NULL when absent. */
struct nylas_error {
	char *request_id;
	char *type;			/* "api.authentication_error", ... */
	char *message;
	char *provider_error;		/* the provider_error object as compact JSON, bounded */
};

struct nylas_connector {
	char *provider;
	char *client_id;		/* settings.client_id */
	char *tenant;			/* settings.tenant; NULL when not shown (optional) */
	/*
	 * The credential Nylas signs users in with when set ("used as a default
	 * for communication with the provider"), instead of settings; NULL when
	 * unset.
	 */
	char *active_credential_id;
	int has_secret;			/* settings.client_secret came back (it is not kept) */
	char **scope;
	size_t n_scope;
};

struct nylas_grant {
	char *id;
	char *provider;
	char *grant_status;		/* "valid" | "invalid" */
	char *email;
	char *credential_id;
	int64_t created_at;		/* Unix seconds; 0 when absent */
	int64_t updated_at;
};

/* One page of GET /v3/grants. */
struct nylas_grants_page {
	struct nylas_grant *grants;
	size_t n;
	char *next_cursor;		/* cursor pagination: the next page_token, or NULL */
};

/* A webhook destination as created or after a secret rotation. */
struct nylas_webhook {
	char *id;
	char *status;
	struct secret *webhook_secret;	/* NULL when the answer lacked it */
};

/* 0 when body is Nylas's error envelope (an "error" object); -1 otherwise. */
int nylas_parse_error(const char *body, size_t len, struct nylas_error *out);
void nylas_error_clear(struct nylas_error *e);
enum nylas_outcome nylas_outcome_of(enum http_outcome outcome, long status);

/* {"data":{connector}}.  0, or -1 and *err. */
int nylas_parse_connector(const char *body, size_t len, struct nylas_connector *out, char **err);
void nylas_connector_clear(struct nylas_connector *c);
/* {"data":[grant...],"next_cursor"?}.  0, or -1 and *err. */
int nylas_parse_grants_page(const char *body, size_t len, struct nylas_grants_page *out,
    char **err);
void nylas_grants_page_clear(struct nylas_grants_page *p);
void nylas_grants_free(struct nylas_grant *grants, size_t n);
/* The triggers rekey needs on its webhook destination (nylas register asks for these). */
#define NYLAS_GRANT_TRIGGERS { "grant.created", "grant.updated", "grant.deleted", \
	"grant.expired" }

enum nylas_destination_state {
	NYLAS_DESTINATION_OK,		/* active, with the grant triggers */
	NYLAS_DESTINATION_MISSING,	/* no destination has the URL */
	NYLAS_DESTINATION_NO_TRIGGERS,	/* it lacks some of the grant triggers (missing) */
	NYLAS_DESTINATION_INACTIVE,	/* status is not active (failing, failed, pause) */
	NYLAS_DESTINATION_EXTRA,	/* fine, with other triggers too (extra) */
};

/* What GET /v3/webhooks says of the destination for one URL; strings owned. */
struct nylas_destination {
	enum nylas_destination_state state;
	int n_destinations;		/* how many the list had */
	char *id;			/* NULL when missing */
	char *status;			/* "(none)" when the destination has none */
	char *missing;			/* the grant triggers it lacks, comma-separated, or "" */
	char *extra;			/* its other triggers, or "" */
	char *triggers;			/* all its triggers, or "" */
};
/*
 * Finds url in {"data":[destination...]} and judges it: the order of the
 * states above is the order of the checks.  0, or -1 and *err.
 */
int nylas_find_destination(const char *body, size_t len, const char *url,
    struct nylas_destination *out, char **err);
void nylas_destination_clear(struct nylas_destination *d);

/* {"data":{"id","status","webhook_secret"}}.  0, or -1 and *err. */
int nylas_parse_webhook(const char *body, size_t len, struct nylas_webhook *out, char **err);
void nylas_webhook_clear(struct nylas_webhook *w);

/* The id of a sent message: {"data":{"id":…}}.  0, or -1 and *err (caller frees *id). */
int nylas_parse_message_id(const char *body, size_t len, char **id, char **err);

#endif
