/*
 * outbound/graph_parse: Microsoft Graph's answers as structs, and what an
 * answer means for the caller (enum graph_outcome).  Pure functions, no
 * HTTP: graph.h's calls hand the results to their callers, and the unit
 * tests and fuzz targets call them directly.
 */
#ifndef REKEY_OUTBOUND_GRAPH_PARSE_H
#define REKEY_OUTBOUND_GRAPH_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "outbound/http_client.h"

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
	int64_t created;		/* createdDateTime (Unix seconds); 0 when not shown */
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

/* 0 when body is Graph's error envelope; -1 otherwise. */
int graph_parse_error(const char *body, size_t len, struct graph_error *out);
void graph_error_clear(struct graph_error *e);
/* 1 when e is the concurrent-update error ("Directory_ConcurrencyViolation"). */
int graph_error_is_concurrency(long status, const struct graph_error *e);
/*
 * 1 when e says our notification URL failed Graph's validation handshake (no
 * 200 with the token in time): retryable, as it is often for a moment.
 */
int graph_error_is_validation(long status, const struct graph_error *e);
/* http_client classify callback: the concurrent-update error is retried. */
enum http_verdict graph_classify(long status, const char *body, size_t len);
/*
 * 1 when a create or renew was refused because its expirationDateTime lies
 * past Graph's maximum, with that maximum (seconds from Graph's now) in
 * *max_s; 0 for anything else.  Graph says the number only in its message,
 * in one of two wordings (see graph_parse.c), so the text is read here, and
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

#endif
