/*
 * outbound/graph: the Microsoft Graph calls rekey makes, asynchronous on
 * http_client with a bearer token from the rotator identity: find and read
 * an application and its passwordCredentials, addPassword/removePassword,
 * the app's owners, a user, and change-notification subscriptions.
 *
 * Every call returns 0 and its callback then runs exactly once, later, from
 * the event loop; or -1 (logged) and the callback never runs.  A 401 drops
 * the cached token and the call is tried once more with a new one.
 */
#ifndef REKEY_OUTBOUND_GRAPH_H
#define REKEY_OUTBOUND_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "outbound/http_client.h"

struct config_app;
struct graph_client;
struct identity;
struct identity_result;
struct secret;

/* Bounds on what Graph answers may carry. */
#define GRAPH_MAX_RESPONSE (1024 * 1024)
#define GRAPH_MAX_PASSWORDS 256
#define GRAPH_MAX_OWNERS 1000
#define GRAPH_OWNER_PAGES_MAX 10
#define GRAPH_MAX_SUBSCRIPTIONS 1000
#define GRAPH_SUBSCRIPTION_PAGES_MAX 20
#define GRAPH_FIELD_MAX 1024

/* What a call came to, for the caller's state machine. */
enum graph_outcome {
	GRAPH_OK,
	GRAPH_NOT_FOUND,		/* 404, or no application with that appId */
	GRAPH_LIFETIME_POLICY,		/* CredentialInvalidLifetimeAsPerAppPolicy: shorten */
	GRAPH_RETRYABLE,		/* transport, throttling, 5xx, concurrent update */
	GRAPH_PERMANENT,		/* anything else (see code, message, request id) */
	GRAPH_CANCELLED,		/* the client or the http_client was freed first */
};

/* Graph's error envelope; strings owned (graph_error_clear), NULL when absent. */
struct graph_error {
	char *code;			/* "Request_ResourceNotFound", ... */
	char *message;
	char *detail_code;		/* error.details[0].code ("InvalidKeyEndDate"), if any */
	char *request_id;		/* error.innerError["request-id"] */
	char *client_request_id;
	char *date;
};

/* One entry of passwordCredentials; times are Unix seconds, 0 when absent. */
struct graph_password {
	char *key_id;
	char *display_name;
	char *hint;			/* first 3 characters of the secret */
	int64_t start;
	int64_t end;
};

struct graph_application {
	char *id;			/* object id */
	char *app_id;			/* client id */
	char *display_name;
	char *sign_in_audience;		/* "AzureADMyOrg", ...; NULL when not shown */
	struct graph_password *passwords;
	size_t n_passwords;
};

/* What addPassword returns: the credential and, once only, its text. */
struct graph_new_password {
	struct graph_password cred;
	struct secret *secret_text;	/* NULL when the answer lacked it */
};

/* An owner that is a user; service principals are left out. */
struct graph_owner {
	char *id;
	char *address;			/* mail, else userPrincipalName; NULL when neither */
	char *display_name;
};

struct graph_user {
	char *id;
	char *mail;
	char *user_principal_name;
	int account_enabled;		/* 1, 0, or -1 when not returned */
	int64_t sessions_valid_from;	/* signInSessionsValidFromDateTime; 0 when absent */
	int64_t last_password_change;	/* lastPasswordChangeDateTime; 0 when absent */
};

struct graph_subscription {
	char *id;
	char *resource;
	char *change_type;
	char *notification_url;		/* NULL when absent */
	int64_t expiration;
};

/* What to subscribe to (POST /subscriptions). */
struct graph_subscription_spec {
	const char *change_type;		/* "updated,deleted" */
	const char *notification_url;
	const char *lifecycle_url;		/* NULL: none (it cannot be added later) */
	const char *resource;			/* "/users" */
	int64_t expiration;			/* Unix seconds */
	const struct secret *client_state;	/* at most 128 characters */
	/*
	 * No includeResourceData: Graph has no rich notifications for the
	 * directory resources rekey subscribes to (spec/graph.md).
	 */
};

/* What a call came to; everything is valid only during the callback. */
struct graph_result {
	enum graph_outcome outcome;
	long status;				/* last HTTP status; 0 when none */
	const struct graph_error *error;	/* the error envelope, or NULL */
	const char *detail;			/* one line for logs, or NULL */
	const char *request_id;			/* Graph's request-id, or NULL */
	const char *client_request_id;		/* what we sent; also our log req_id */
	int64_t retry_after_ms;			/* Retry-After of the last answer; -1 when none */
	const struct identity_result *token;	/* when no token could be had, else NULL */

	/* The payload of the call that succeeded; NULL/0 for the others. */
	const struct graph_application *application;	/* find, get */
	struct graph_new_password *password;	/* addPassword: the callback may take
						 * secret_text (set it to NULL) */
	const struct graph_owner *owners;
	size_t n_owners;
	int owners_truncated;			/* more pages than GRAPH_OWNER_PAGES_MAX */
	const struct graph_user *user;
	const struct graph_subscription *subscription;	/* create, renew */
	const struct graph_subscription *subscriptions;	/* list */
	size_t n_subscriptions;
	const char *body;			/* graph_get_json: the answer, NUL-terminated */
	size_t body_len;
};

typedef void (*graph_cb)(const struct graph_result *res, void *arg);

/* Takes ownership of id (the identity whose tokens are the bearer).  app is for logs (may be NULL). */
struct graph_client *graph_client_new(struct http_client *hc, const char *graph_base,
    struct identity *id, const char *app);
/* A client for app: graph_base and the rotator identity.  NULL and *err (caller frees). */
struct graph_client *graph_client_from_app(struct http_client *hc, const struct config_app *app,
    char **err);
/*
 * Calls still pending hear GRAPH_CANCELLED now; answers that arrive later
 * are dropped.  Safe from inside a graph callback.  NULL is a no-op.
 */
void graph_client_free(struct graph_client *gc);

/* GET /applications?$filter=appId eq '{app_id}': the application, or GRAPH_NOT_FOUND. */
int graph_find_application(struct graph_client *gc, const char *app_id, graph_cb cb, void *arg);
/* GET /applications/{object_id} with the same $select. */
int graph_get_application(struct graph_client *gc, const char *object_id, graph_cb cb,
    void *arg);
/*
 * POST /applications/{object_id}/addPassword.  Sent once, never retried
 * here: every attempt that reaches Graph creates a credential, so a lost
 * answer must be handled by the caller's intent log (tag display_name).
 */
int graph_add_password(struct graph_client *gc, const char *object_id, const char *display_name,
    int64_t end, graph_cb cb, void *arg);
/* POST /applications/{object_id}/removePassword {"keyId"} -> 204. */
int graph_remove_password(struct graph_client *gc, const char *object_id, const char *key_id,
    graph_cb cb, void *arg);
/* GET /applications/{object_id}/owners, following @odata.nextLink on the same host. */
int graph_list_owners(struct graph_client *gc, const char *object_id, graph_cb cb, void *arg);
/*
 * GET /users/{id or userPrincipalName}?$select=...; -1 unless user_id passes
 * graph_user_id_valid.
 */
int graph_get_user(struct graph_client *gc, const char *user_id, graph_cb cb, void *arg);
/*
 * 1 when id is shaped like a user's object id (a GUID) or a userPrincipalName
 * (local@domain of the characters Entra ID allows), else 0.  Escaping alone
 * is not enough: libcurl collapses a "." or ".." segment, so an id from a
 * notification could turn /users/{id} into /users or the API's root.
 */
int graph_user_id_valid(const char *id);
int graph_create_subscription(struct graph_client *gc, const struct graph_subscription_spec *spec,
    graph_cb cb, void *arg);
/*
 * GET /subscriptions: the subscriptions this app created, following
 * @odata.nextLink on the same host; more than GRAPH_MAX_SUBSCRIPTIONS (or
 * GRAPH_SUBSCRIPTION_PAGES_MAX pages) is GRAPH_PERMANENT.
 */
int graph_list_subscriptions(struct graph_client *gc, graph_cb cb, void *arg);
/* PATCH /subscriptions/{id} {"expirationDateTime"}. */
int graph_renew_subscription(struct graph_client *gc, const char *id, int64_t expiration,
    graph_cb cb, void *arg);
/* POST /subscriptions/{id}/reauthorize. */
int graph_reauthorize_subscription(struct graph_client *gc, const char *id, graph_cb cb,
    void *arg);
/* DELETE /subscriptions/{id} -> 204. */
int graph_delete_subscription(struct graph_client *gc, const char *id, graph_cb cb, void *arg);

/*
 * GET {graph_base}{path} (path starts with "/" and is already encoded, query
 * included), one page: the answer's JSON in res->body for the caller to
 * parse.  For reads only rekey doctor makes (service principals, app role
 * assignments, owners of every type).
 */
int graph_get_json(struct graph_client *gc, const char *path, graph_cb cb, void *arg);

const char *graph_outcome_name(enum graph_outcome outcome);

/* Pure helpers, public for the unit tests. */


/* 0 when body is Graph's error envelope; -1 otherwise. */
int graph_parse_error(const char *body, size_t len, struct graph_error *out);
void graph_error_clear(struct graph_error *e);
/* 1 when e is the concurrent-update error ("Directory_ConcurrencyViolation"). */
int graph_error_is_concurrency(long status, const struct graph_error *e);
/* http_client classify callback: the concurrent-update error is retried. */
enum http_verdict graph_classify(long status, const char *body, size_t len);
/*
 * 1 when a create or renew was refused because its expirationDateTime lies
 * past Graph's maximum, with that maximum (seconds from Graph's now) in
 * *max_s; 0 for anything else.  Graph says the number only in its message,
 * in one of two wordings (see graph_api.c), so the text is read here, and
 * only for a 400.
 */
int graph_expiry_limit(long status, const struct graph_error *e, int64_t *max_s);
/* The outcome for an answer (e may be NULL). */
enum graph_outcome graph_outcome_of(enum http_outcome outcome, long status,
    const struct graph_error *e);

/* One application object. 0, or -1 and *err. */
int graph_parse_application(const char *body, size_t len, struct graph_application *out,
    char **err);
/* {"value":[application...]}: the first into *out and *found = 1, or *found = 0.  0 or -1. */
int graph_parse_application_list(const char *body, size_t len, struct graph_application *out,
    int *found, char **err);
void graph_application_clear(struct graph_application *a);
int graph_parse_new_password(const char *body, size_t len, struct graph_new_password *out,
    char **err);
void graph_new_password_clear(struct graph_new_password *p);
/*
 * One page of owners: appends users to *owners and *n (service principals and
 * other types skipped; at most GRAPH_MAX_OWNERS in all) and sets *next_link
 * (caller frees) when there is a next page.  0 or -1.
 */
int graph_parse_owners_page(const char *body, size_t len, struct graph_owner **owners,
    size_t *n, char **next_link, char **err);
void graph_owners_free(struct graph_owner *owners, size_t n);
int graph_parse_user(const char *body, size_t len, struct graph_user *out, char **err);
void graph_user_clear(struct graph_user *u);
int graph_parse_subscription(const char *body, size_t len, struct graph_subscription *out,
    char **err);
void graph_subscription_clear(struct graph_subscription *s);
/*
 * One page of GET /subscriptions: appends to *subs and *n (at most
 * GRAPH_MAX_SUBSCRIPTIONS in all) and sets *next_link (caller frees) when
 * there is a next page.  0 or -1.
 */
int graph_parse_subscriptions_page(const char *body, size_t len, struct graph_subscription **subs,
    size_t *n, char **next_link, char **err);
void graph_subscriptions_free(struct graph_subscription *subs, size_t n);

/* URL of the appId lookup (OData quoting and percent-encoding).  Caller frees. */
char *graph_find_application_url(const char *graph_base, const char *app_id);
/* 1 when link is on the same scheme://host[:port] as graph_base (a bearer goes nowhere else). */
int graph_link_allowed(const char *graph_base, const char *link);
/* {"passwordCredential":{"displayName","endDateTime"}}; caller frees. */
struct secret *graph_add_password_body(const char *display_name, int64_t end);
/* The JSON body of a subscription create (a secret: it holds clientState; caller frees). */
struct secret *graph_subscription_body(const struct graph_subscription_spec *spec);

#endif
