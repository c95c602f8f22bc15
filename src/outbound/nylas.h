/*
 * outbound/nylas: the Nylas v3 REST calls rekey makes, asynchronous on
 * http_client with the app's API key as bearer: read and update the
 * Microsoft connector (settings always whole) or one connector
 * credential, list grants, create a webhook destination and rotate its
 * secret, and send a message through a grant.
 *
 * Every call returns 0 and its callback then runs exactly once, later, from
 * the event loop; or -1 (logged) and the callback never runs.
 */
#ifndef REKEY_OUTBOUND_NYLAS_H
#define REKEY_OUTBOUND_NYLAS_H

#include <stddef.h>
#include <stdint.h>

#include "outbound/http_client.h"
#include "outbound/nylas_parse.h"

struct config_app;
struct nylas_client;
struct secret;

struct nylas_grant_query {
	const char *provider;		/* "microsoft", or NULL for any */
	const char *grant_status;	/* "invalid", "valid", or NULL for any */
	int limit;			/* per page; 0 = NYLAS_GRANTS_LIMIT_DEFAULT */
	int max_pages;			/* 0 = NYLAS_GRANTS_PAGES_MAX */
};

struct nylas_webhook_spec {
	const char *webhook_url;
	const char *description;	/* may be NULL */
	const char *const *trigger_types;
	size_t n_trigger_types;
	const char *const *notification_emails;
	size_t n_notification_emails;
};

struct nylas_message {
	const char *const *to;		/* addresses */
	size_t n_to;
	const char *subject;
	const char *body;
};

/* What a call came to; everything is valid only during the callback. */
struct nylas_result {
	enum nylas_outcome outcome;
	long status;				/* last HTTP status; 0 when none */
	const struct nylas_error *error;	/* the error envelope, or NULL */
	const char *detail;			/* one line for logs, or NULL */
	const char *request_id;			/* the body's request_id, else x-request-id */
	int64_t retry_after_ms;			/* Retry-After of the last answer; -1 when none */

	const struct nylas_connector *connector;	/* get and patch connector */
	const struct nylas_grant *grants;	/* list grants, every page together */
	size_t n_grants;
	int grants_truncated;			/* stopped at max_pages or NYLAS_GRANTS_MAX */
	struct nylas_webhook *webhook;		/* create, rotate: the callback may take
						 * webhook_secret (set it to NULL) */
	const char *message_id;			/* send */
	const char *body;			/* nylas_get_json: the answer, NUL-terminated */
	size_t body_len;
};

typedef void (*nylas_cb)(const struct nylas_result *res, void *arg);

/* api_base like "https://api.us.nylas.com"; the key is copied.  app is for logs (may be NULL). */
struct nylas_client *nylas_client_new(struct http_client *hc, const char *api_base,
    const struct secret *api_key, const char *app);
/* From an app's nylas_api_base and nylas_api_key.  NULL and *err when the key is missing. */
struct nylas_client *nylas_client_from_app(struct http_client *hc, const struct config_app *app,
    char **err);
/* Pending calls hear NYLAS_CANCELLED now; later answers are dropped.  NULL is a no-op. */
void nylas_client_free(struct nylas_client *nc);

/* GET /v3/connectors/microsoft. */
int nylas_get_connector(struct nylas_client *nc, nylas_cb cb, void *arg);
/*
 * PATCH /v3/connectors/microsoft with the whole settings object (a PATCH
 * replaces it): client_id and client_secret required, tenant sent only when
 * not NULL or empty.  scope is sent only when n_scope > 0.
 */
int nylas_patch_connector(struct nylas_client *nc, const char *client_id,
    const struct secret *client_secret, const char *tenant, const char *const *scope,
    size_t n_scope, nylas_cb cb, void *arg);
/* PATCH /v3/connectors/microsoft/creds/{credential_id} with credential_data, tenant likewise optional. */
int nylas_patch_credential(struct nylas_client *nc, const char *credential_id,
    const char *client_id, const struct secret *client_secret, const char *tenant,
    nylas_cb cb, void *arg);
/* GET /v3/grants, page after page (next_cursor, else limit/offset), up to the query's bound. */
int nylas_list_grants(struct nylas_client *nc, const struct nylas_grant_query *q, nylas_cb cb,
    void *arg);
/* POST /v3/webhooks; sent once (a lost answer would leave a destination we do not know). */
int nylas_create_webhook(struct nylas_client *nc, const struct nylas_webhook_spec *spec,
    nylas_cb cb, void *arg);
/* POST /v3/webhooks/rotate-secret/{id}: the old secret stops working at once. */
int nylas_rotate_webhook_secret(struct nylas_client *nc, const char *webhook_id, nylas_cb cb,
    void *arg);
/*
 * PUT /v3/webhooks/{id} with trigger_types and, when not NULL, status (the
 * destination's other fields are left as they are).
 */
int nylas_update_webhook(struct nylas_client *nc, const char *webhook_id,
    const char *const *trigger_types, size_t n_trigger_types, const char *status, nylas_cb cb,
    void *arg);
/* POST /v3/grants/{grant_id}/messages/send with Idempotency-Key (required). */
int nylas_send_message(struct nylas_client *nc, const char *grant_id,
    const struct nylas_message *msg, const char *idempotency_key, nylas_cb cb, void *arg);

/*
 * GET {api_base}{path} (path starts with "/" and is already encoded): the
 * answer's JSON in res->body for the caller to parse.  For reads only rekey
 * doctor makes (webhook destinations, the connector as Nylas shows it).
 */
int nylas_get_json(struct nylas_client *nc, const char *path, nylas_cb cb, void *arg);

const char *nylas_outcome_name(enum nylas_outcome outcome);

/* Pure helpers, public for the unit tests. */

/*
 * {"settings":{"client_id","client_secret"[,"tenant"]}[,"scope":[...]]}, or
 * NULL when client_id or client_secret is missing or empty: a settings object
 * without them would wipe them.  tenant NULL or "" is left out, never made
 * up.  A secret (caller frees).
 */
struct secret *nylas_connector_body(const char *client_id, const struct secret *client_secret,
    const char *tenant, const char *const *scope, size_t n_scope);
/* {"credential_data":{"client_id","client_secret"[,"tenant"]}}, or NULL likewise. */
struct secret *nylas_credential_body(const char *client_id, const struct secret *client_secret,
    const char *tenant);
/* The body of a webhook destination create; caller frees. */
struct secret *nylas_webhook_body(const struct nylas_webhook_spec *spec);
/* {"trigger_types":[...][,"status"]}; caller frees. */
struct secret *nylas_webhook_update_body(const char *const *trigger_types,
    size_t n_trigger_types, const char *status);
/* {"to":[{"email"}...],"subject","body"}; caller frees. */
struct secret *nylas_message_body(const struct nylas_message *msg);
/* The URL of one grants page: page_token when not NULL, else offset when > 0.  Caller frees. */
char *nylas_grants_url(const char *api_base, const struct nylas_grant_query *q,
    const char *page_token, int64_t offset);

/*
 * Whether there is a page after page, asked with limit: 1 with *page_token
 * set (pointing into page) for cursor pagination, or with *page_token NULL
 * and *offset advanced by limit for limit/offset pagination (a full page and
 * no cursor); 0 when the listing is complete.
 */
int nylas_grants_next_page(const struct nylas_grants_page *page, int limit, int64_t *offset,
    const char **page_token);

#endif
