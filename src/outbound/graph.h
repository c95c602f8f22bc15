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
#include "outbound/graph_parse.h"

struct config_app;
struct graph_client;
struct identity;
struct identity_result;
struct secret;

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
 * assignments, owners of every type), the service principal's secrets
 * (graph_sp.h) and the app management policies (outbound/graph_policy.h
 * parses them).
 */
int graph_get_json(struct graph_client *gc, const char *path, graph_cb cb, void *arg);

const char *graph_outcome_name(enum graph_outcome outcome);

/* Pure helpers, public for the unit tests. */

/* URL of the appId lookup (OData quoting and percent-encoding).  Caller frees. */
char *graph_find_application_url(const char *graph_base, const char *app_id);
/* 1 when link is on the same scheme://host[:port] as graph_base (a bearer goes nowhere else). */
int graph_link_allowed(const char *graph_base, const char *link);
/* {"passwordCredential":{"displayName","endDateTime"}}; caller frees. */
struct secret *graph_add_password_body(const char *display_name, int64_t end);
/* The JSON body of a subscription create (a secret: it holds clientState; caller frees). */
struct secret *graph_subscription_body(const struct graph_subscription_spec *spec);

#endif
