/*
 * identity: access tokens from the Microsoft identity platform (OAuth 2.0
 * client credentials, v2.0 endpoint), for the rotator identity that rekey
 * signs in as (certificate credential: a signed client assertion), and a
 * one-shot probe that tells whether a client secret still works, naming the
 * AADSTS code when it does not.  Errors are told apart by error_codes, never
 * by their text.
 */
#ifndef REKEY_OUTBOUND_IDENTITY_H
#define REKEY_OUTBOUND_IDENTITY_H

#include <stddef.h>
#include <stdint.h>

#include "proto/jwt.h"

struct config_app;
struct http_client;
struct identity;
struct secret;

/* The longest graph_base whose scope identity_graph_scope derives. */
#define IDENTITY_SCOPE_BASE_MAX 2048
/* A cached token is used until this many seconds before it expires. */
#define IDENTITY_REFRESH_MARGIN 300
/* Bounds on what a token endpoint answer may carry. */
#define IDENTITY_MAX_RESPONSE 65536
#define IDENTITY_MAX_TOKEN 32768
#define IDENTITY_FIELD_MAX 256
#define IDENTITY_DESCRIPTION_MAX 1024

enum identity_status {
	IDENTITY_OK,			/* a token */
	IDENTITY_REJECTED,		/* the endpoint refused, with an error envelope (aad) */
	IDENTITY_RETRYABLE,		/* transport, 429 or 5xx until the budget ran out */
	IDENTITY_FAILED,		/* anything else that retrying will not change */
	IDENTITY_CANCELLED,		/* the identity or the http_client was freed first */
};

/* What an AADSTS code means for rekey; see spec/graph.md. */
enum identity_err {
	IDENTITY_ERR_NONE,
	IDENTITY_ERR_SECRET_EXPIRED,		/* 7000222 */
	IDENTITY_ERR_SECRET_INVALID,		/* 7000215: deleted, or the secret's id pasted */
	IDENTITY_ERR_NO_CREDENTIAL,		/* 7000218: neither secret nor assertion */
	IDENTITY_ERR_BAD_ASSERTION_SIGNATURE,	/* 700027: certificate not registered on the app */
	IDENTITY_ERR_ASSERTION_TIME,		/* 700024: clock skew or assertion lifetime */
	IDENTITY_ERR_APP_NOT_IN_TENANT,		/* 700016 */
	IDENTITY_ERR_TENANT_NOT_FOUND,		/* 90002 */
	IDENTITY_ERR_APP_DISABLED,		/* 7000112 */
	IDENTITY_ERR_OTHER,			/* some other code (kept in code), or none */
};

/* The token endpoint's error envelope; strings owned (identity_error_clear), NULL when absent. */
struct identity_error {
	char *error;			/* "invalid_client" */
	char *description;		/* first line of error_description, bounded */
	int64_t code;			/* error_codes[0], else "AADSTSnnn:"; 0 when none */
	enum identity_err kind;
	char *trace_id;
	char *correlation_id;
	char *timestamp;
};

/* What a token request came to; valid only during the callback. */
struct identity_result {
	enum identity_status status;
	const struct secret *access_token;	/* IDENTITY_OK; NULL for probes */
	uint64_t token_gen;			/* IDENTITY_OK: what identity_invalidate takes */
	int64_t expires_in;			/* seconds, IDENTITY_OK; 0 when not given */
	const struct identity_error *aad;	/* the error envelope when there was one, else NULL */
	long http_status;			/* 0 when no answer was received */
	const char *detail;			/* one line for logs ("HTTP 503"), or NULL */
};

typedef void (*identity_cb)(const struct identity_result *res, void *arg);

/*
 * A certificate identity: tokens are cached until IDENTITY_REFRESH_MARGIN
 * before they expire.  Takes ownership of signer.  app names the log context
 * (may be NULL).  login_base is e.g. "https://login.microsoftonline.com".
 */
struct identity *identity_new_cert(struct http_client *hc, const char *login_base,
    const char *tenant, const char *client_id, const char *scope, struct jwt_signer *signer,
    enum jwt_alg alg, const char *app);
/* A client-secret identity (the secret is copied); cached alike. */
struct identity *identity_new_secret(struct http_client *hc, const char *login_base,
    const char *tenant, const char *client_id, const char *scope,
    const struct secret *client_secret, const char *app);
/*
 * The rotator identity of an app: rotator_client_id signing with
 * rotator_cert_file/rotator_key_file (PS256) in azure_tenant_id, for the
 * scope of the app's graph_base (identity_graph_scope).  Copies what it needs
 * from app.  NULL and *err (caller frees) when the config lacks something or
 * the certificate does not load.
 */
struct identity *identity_rotator_new(struct http_client *hc, const struct config_app *app,
    char **err);
/*
 * Requests in flight are abandoned and their waiters hear IDENTITY_CANCELLED
 * now.  Safe from inside an identity callback (the free then happens when the
 * callbacks are done).  NULL is a no-op.
 */
void identity_free(struct identity *id);

/*
 * The cached token when it is still fresh (and its generation into *gen),
 * else NULL.  The pointer is valid until the next call into this identity.
 */
const struct secret *identity_cached_token(struct identity *id, uint64_t *gen);
/*
 * Fetches a new token and caches it.  At most one request is in flight per
 * identity: later callers wait for that one and all hear its result.  Returns
 * 0 and cb runs exactly once, later, from the event loop; or -1 (logged) and
 * cb never runs.
 */
int identity_get_token(struct identity *id, identity_cb cb, void *arg);
/*
 * Drops the cached token if it is still generation gen (a resource server
 * refused it: 401).  A token fetched since is kept.
 */
void identity_invalidate(struct identity *id, uint64_t gen);
const char *identity_token_endpoint(const struct identity *id);

/*
 * Asks once for a token for app's azure_client_id with client_secret, at
 * app's azure_login_base and azure_tenant_id and for the scope of its
 * graph_base (the rotator's rule), caching nothing, to learn whether the
 * secret works: IDENTITY_OK, IDENTITY_REJECTED with the AADSTS code, or a
 * transport failure.  The secret goes only into a wiped body.  0 and cb runs
 * once later, or -1 (logged) and it never runs.
 */
int identity_probe_secret(struct http_client *hc, const struct config_app *app,
    const struct secret *client_secret, identity_cb cb, void *arg);

/* Pure helpers, public for the unit tests. */

/* "{login_base}/{tenant}/oauth2/v2.0/token" (one slash between); caller frees. */
char *identity_token_url(const char *login_base, const char *tenant);
/*
 * The client-credentials scope of the Graph that graph_base names: its
 * origin + "/.default" ("https://graph.microsoft.us/v1.0" ->
 * "https://graph.microsoft.us/.default"), so that a national cloud's Graph
 * gets a token for itself; the scheme and host lower-cased, a default port
 * dropped.  NULL when graph_base has no scheme://host.  Caller frees.
 */
char *identity_graph_scope(const char *graph_base);
/*
 * The form-encoded body of a client-credentials request for scope with
 * either an assertion or a client secret (exactly one non-NULL).  A secret
 * (caller frees).
 */
struct secret *identity_token_body(const char *client_id, const char *scope,
    const struct secret *assertion, const struct secret *client_secret);
/* 0 when body is an error envelope (an object with "error" or "error_codes"); -1 otherwise. */
int identity_parse_error(const char *body, size_t len, struct identity_error *out);
void identity_error_clear(struct identity_error *e);
enum identity_err identity_err_from_code(int64_t code);
/* "secret_expired", "secret_invalid", ...: stable names for logs and metrics. */
const char *identity_err_name(enum identity_err kind);
/*
 * A success answer: the access token (a secret, caller frees) and expires_in
 * (a number or a numeric string; 0 when absent).  0, or -1 and *err.
 */
int identity_parse_token(const char *body, size_t len, struct secret **token,
    int64_t *expires_in, char **err);

#endif
