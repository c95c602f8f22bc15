/*
 * graph_parse: Microsoft Graph's answers, read.  The error envelope and what
 * it means (the outcome of a call, the concurrent-update error to retry, the
 * expiry limit a subscription was refused for), and the payloads rekey asks
 * for: applications and their passwordCredentials, addPassword's new
 * secret, owners, users, subscriptions.  Pure: bytes in, structs out;
 * graph.c makes the calls.
 */
#include "outbound/graph_parse.h"
#include "lib/json.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#define GRAPH_JSON_DEPTH_MAX 32
/* A nextLink carries a skiptoken, longer than the other fields. */
#define GRAPH_LINK_MAX 8192
#define CONCURRENCY_CODE "Directory_ConcurrencyViolation"
#define CONCURRENCY_TEXT "Error due to concurrent requests being made to the tenant"
#define LIFETIME_CODE "CredentialInvalidLifetimeAsPerAppPolicy"
/*
 * How Graph's refusals of a subscription whose notification URL failed its
 * validation handshake begin, quoted from real answers: "Subscription
 * validation request failed. Notification endpoint must respond with 200 OK
 * to validation request." (microsoftgraph/nodejs-webhooks-sample#158) and
 * {"code":"InvalidRequest","message":"Subscription validation request timed
 * out."} (#350).
 */
#define VALIDATION_TEXT "Subscription validation request "

/* --- JSON helpers ------------------------------------------------------- */

static cJSON *
parse_object(const char *body, size_t len, char **err)
{
	return json_parse_object(body, len, GRAPH_MAX_RESPONSE, GRAPH_JSON_DEPTH_MAX, err);
}

static int
get_str(const cJSON *obj, const char *name, int required, char **out, char **err)
{
	return json_get_str(obj, name, GRAPH_FIELD_MAX, required, out, err);
}

/* An ISO 8601 member into *out; 0 when absent or null. */
static int
get_time(const cJSON *obj, const char *name, int64_t *out, char **err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = 0;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || util_parse_time(v->valuestring, out) == -1) {
		*err = xasprintf("\"%s\" is not an ISO 8601 time", name);
		return -1;
	}
	return 0;
}

static void
scrub_string(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(v) && v->valuestring != NULL)
		OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
}

/* --- error envelope ----------------------------------------------------- */

static const cJSON *
inner_error(const cJSON *error)
{
	const cJSON *inner = cJSON_GetObjectItemCaseSensitive(error, "innerError");

	/* Some services spell it in lower case. */
	if (inner == NULL)
		inner = cJSON_GetObjectItemCaseSensitive(error, "innererror");
	return cJSON_IsObject(inner) ? inner : NULL;
}

static void
read_error_fields(const cJSON *error, struct graph_error *out)
{
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(error, "details");
	const cJSON *inner = inner_error(error);
	char *ignored = NULL;

	/* Each field is optional: a wrong type just leaves it NULL. */
	get_str(error, "code", 0, &out->code, &ignored);
	free(ignored);
	ignored = NULL;
	get_str(error, "message", 0, &out->message, &ignored);
	free(ignored);
	ignored = NULL;
	if (cJSON_IsArray(details) && cJSON_IsObject(details->child))
		get_str(details->child, "code", 0, &out->detail_code, &ignored);
	free(ignored);
	ignored = NULL;
	if (inner == NULL)
		return;
	get_str(inner, "request-id", 0, &out->request_id, &ignored);
	free(ignored);
	ignored = NULL;
	get_str(inner, "client-request-id", 0, &out->client_request_id, &ignored);
	free(ignored);
	ignored = NULL;
	get_str(inner, "date", 0, &out->date, &ignored);
	free(ignored);
}

int
graph_parse_error(const char *body, size_t len, struct graph_error *out)
{
	char *err = NULL;
	cJSON *root = parse_object(body, len, &err);
	const cJSON *error;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	free(err);
	if (root == NULL)
		return -1;
	error = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (cJSON_IsObject(error)) {
		read_error_fields(error, out);
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

void
graph_error_clear(struct graph_error *e)
{
	free(e->code);
	free(e->message);
	free(e->detail_code);
	free(e->request_id);
	free(e->client_request_id);
	free(e->date);
	memset(e, 0, sizeof(*e));
}

int
graph_error_is_concurrency(long status, const struct graph_error *e)
{
	if (e == NULL)
		return 0;
	if (e->code != NULL && strcmp(e->code, CONCURRENCY_CODE) == 0)
		return 1;
	/* The code has varied (400, 409, 503 answers); the sentence has not. */
	return (status == 400 || status == 409) && e->message != NULL &&
	    strncmp(e->message, CONCURRENCY_TEXT, strlen(CONCURRENCY_TEXT)) == 0;
}

/*
 * Our endpoint did not answer Graph's handshake in time, or not as asked.
 * Usually for a moment (the proxy in front, or rekey itself, still starting;
 * a network blip), so worth trying again soon rather than after the cap.
 */
int
graph_error_is_validation(long status, const struct graph_error *e)
{
	return status == 400 && e != NULL && e->message != NULL &&
	    strncmp(e->message, VALIDATION_TEXT, strlen(VALIDATION_TEXT)) == 0;
}

static int
is_lifetime_policy(const struct graph_error *e)
{
	return e != NULL && e->code != NULL && strcmp(e->code, LIFETIME_CODE) == 0;
}

enum http_verdict
graph_classify(long status, const char *body, size_t len)
{
	struct graph_error e;
	enum http_verdict v = HTTP_VERDICT_DEFAULT;

	if (graph_parse_error(body, len, &e) == -1)
		return v;
	if (graph_error_is_concurrency(status, &e))
		v = HTTP_VERDICT_RETRY;
	else if (is_lifetime_policy(&e))
		v = HTTP_VERDICT_PERMANENT;
	graph_error_clear(&e);
	return v;
}

/*
 * The numbers of Graph's "too far" refusals: at most 9 digits each (a year
 * is 525,600 minutes), so nothing overflows.
 */
#define EXPIRY_DIGITS_MAX 9
/* Quoted from a real answer (microsoft-graph-docs-contrib#7726, code ExtensionError). */
#define EXPIRY_MINUTES_TEXT "Subscription expiration can only be "
/*
 * Quoted from a real answer for a Teams subscription ("... Expiration time
 * '...' ('-5.23:59:55.5782571' from now) is beyond allowed max '3.00:00:00'.]"):
 * the maximum is a .NET TimeSpan, [d.]hh:mm:ss[.fffffff].
 */
#define EXPIRY_SPAN_TEXT "is beyond allowed max '"

/* Reads 1..EXPIRY_DIGITS_MAX digits at *p into *out and moves *p past them; 0 or -1. */
static int
read_digits(const char **p, int64_t *out)
{
	size_t n = 0;

	*out = 0;
	while ((*p)[n] >= '0' && (*p)[n] <= '9') {
		if (n == EXPIRY_DIGITS_MAX)
			return -1;
		*out = *out * 10 + ((*p)[n] - '0');
		n++;
	}
	*p += n;
	return n > 0 ? 0 : -1;
}

/* "41760 minutes in the future": seconds into *max_s; 0 or -1. */
static int
expiry_minutes(const char *p, int64_t *max_s)
{
	int64_t minutes;

	if (read_digits(&p, &minutes) == -1 || strncmp(p, " minutes", 8) != 0)
		return -1;
	*max_s = minutes * 60;
	return 0;
}

/* Reads a number and the character c after it; 0 or -1. */
static int
read_then(const char **p, int64_t *out, char c)
{
	if (read_digits(p, out) == -1 || **p != c)
		return -1;
	(*p)++;
	return 0;
}

/* "[d.]hh:mm:ss[.fffffff]'": seconds into *max_s (the fraction dropped); 0 or -1. */
static int
expiry_span(const char *p, int64_t *max_s)
{
	const char *dot = p + strspn(p, "0123456789");
	int64_t days = 0, h, m, sec, frac;

	if (*dot == '.' && read_then(&p, &days, '.') == -1)
		return -1;
	if (read_then(&p, &h, ':') == -1 || read_then(&p, &m, ':') == -1 ||
	    read_digits(&p, &sec) == -1 || h > 23 || m > 59 || sec > 59)
		return -1;
	if (*p == '.') {
		p++;
		if (read_digits(&p, &frac) == -1)
			return -1;
	}
	if (*p != '\'')
		return -1;
	*max_s = ((days * 24 + h) * 60 + m) * 60 + sec;
	return 0;
}

int
graph_expiry_limit(long status, const struct graph_error *e, int64_t *max_s)
{
	const char *p;
	int64_t s = 0;

	if (status != 400 || e == NULL || e->message == NULL)
		return 0;
	if ((p = strstr(e->message, EXPIRY_MINUTES_TEXT)) != NULL) {
		if (expiry_minutes(p + strlen(EXPIRY_MINUTES_TEXT), &s) == -1)
			return 0;
	} else if ((p = strstr(e->message, EXPIRY_SPAN_TEXT)) != NULL) {
		if (expiry_span(p + strlen(EXPIRY_SPAN_TEXT), &s) == -1)
			return 0;
	} else {
		return 0;
	}
	if (s <= 0)
		return 0;
	*max_s = s;
	return 1;
}

enum graph_outcome
graph_outcome_of(enum http_outcome outcome, long status, const struct graph_error *e)
{
	if (outcome == HTTP_OUTCOME_OK)
		return GRAPH_OK;
	if (outcome == HTTP_OUTCOME_CANCELLED)
		return GRAPH_CANCELLED;
	if (is_lifetime_policy(e))
		return GRAPH_LIFETIME_POLICY;
	if (outcome == HTTP_OUTCOME_RETRYABLE || graph_error_is_concurrency(status, e) ||
	    graph_error_is_validation(status, e))
		return GRAPH_RETRYABLE;
	if (status == 404)
		return GRAPH_NOT_FOUND;
	return GRAPH_PERMANENT;
}

/* --- payloads ----------------------------------------------------------- */

static void
password_clear(struct graph_password *p)
{
	free(p->key_id);
	free(p->display_name);
	free(p->hint);
	memset(p, 0, sizeof(*p));
}

static int
parse_password(const cJSON *obj, struct graph_password *p, char **err)
{
	memset(p, 0, sizeof(*p));
	if (!cJSON_IsObject(obj)) {
		*err = xstrdup("a passwordCredentials entry is not an object");
		return -1;
	}
	if (get_str(obj, "keyId", 1, &p->key_id, err) == -1 ||
	    get_str(obj, "displayName", 0, &p->display_name, err) == -1 ||
	    get_str(obj, "hint", 0, &p->hint, err) == -1 ||
	    get_time(obj, "startDateTime", &p->start, err) == -1 ||
	    get_time(obj, "endDateTime", &p->end, err) == -1) {
		password_clear(p);
		return -1;
	}
	return 0;
}

static int
parse_passwords(const cJSON *list, struct graph_application *a, char **err)
{
	const cJSON *item;
	int n;

	if (list == NULL || cJSON_IsNull(list))
		return 0;
	n = cJSON_GetArraySize(list);
	if (!cJSON_IsArray(list) || n > GRAPH_MAX_PASSWORDS) {
		*err = xasprintf("passwordCredentials is not an array of at most %d",
		    GRAPH_MAX_PASSWORDS);
		return -1;
	}
	a->passwords = xcalloc((size_t)n, sizeof(*a->passwords));
	cJSON_ArrayForEach(item, list) {
		if (parse_password(item, &a->passwords[a->n_passwords], err) == -1)
			return -1;
		a->n_passwords++;
	}
	return 0;
}

static int
application_from(const cJSON *obj, struct graph_application *a, char **err)
{
	memset(a, 0, sizeof(*a));
	if (!cJSON_IsObject(obj)) {
		*err = xstrdup("application is not an object");
		return -1;
	}
	if (get_str(obj, "id", 1, &a->id, err) == -1 ||
	    get_str(obj, "appId", 0, &a->app_id, err) == -1 ||
	    get_str(obj, "displayName", 0, &a->display_name, err) == -1 ||
	    get_str(obj, "signInAudience", 0, &a->sign_in_audience, err) == -1 ||
	    get_time(obj, "createdDateTime", &a->created, err) == -1 ||
	    parse_passwords(cJSON_GetObjectItemCaseSensitive(obj, "passwordCredentials"), a,
		err) == -1) {
		graph_application_clear(a);
		return -1;
	}
	return 0;
}

int
graph_parse_application(const char *body, size_t len, struct graph_application *out,
    char **err)
{
	cJSON *root = parse_object(body, len, err);
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	rc = application_from(root, out, err);
	cJSON_Delete(root);
	return rc;
}

int
graph_parse_application_list(const char *body, size_t len, struct graph_application *out,
    int *found, char **err)
{
	cJSON *root = parse_object(body, len, err);
	const cJSON *value;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	*found = 0;
	if (root == NULL)
		return -1;
	value = cJSON_GetObjectItemCaseSensitive(root, "value");
	if (!cJSON_IsArray(value)) {
		*err = xstrdup("\"value\" is not an array");
	} else if (value->child == NULL) {
		rc = 0;
	} else if (application_from(value->child, out, err) == 0) {
		*found = 1;
		rc = 0;
	}
	cJSON_Delete(root);
	return rc;
}

void
graph_application_clear(struct graph_application *a)
{
	size_t i;

	for (i = 0; i < a->n_passwords; i++)
		password_clear(&a->passwords[i]);
	free(a->passwords);
	free(a->id);
	free(a->app_id);
	free(a->display_name);
	free(a->sign_in_audience);
	memset(a, 0, sizeof(*a));
}

int
graph_parse_new_password(const char *body, size_t len, struct graph_new_password *out,
    char **err)
{
	cJSON *root = parse_object(body, len, err);
	const cJSON *text;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	if (parse_password(root, &out->cred, err) == -1)
		goto out;
	text = cJSON_GetObjectItemCaseSensitive(root, "secretText");
	if (cJSON_IsString(text) && text->valuestring != NULL && text->valuestring[0] != '\0')
		out->secret_text = secret_new(text->valuestring, strlen(text->valuestring));
	rc = 0;
out:
	scrub_string(root, "secretText");
	cJSON_Delete(root);
	return rc;
}

void
graph_new_password_clear(struct graph_new_password *p)
{
	password_clear(&p->cred);
	secret_free(p->secret_text);
	p->secret_text = NULL;
}

static int
is_user(const cJSON *obj)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "@odata.type");

	return cJSON_IsString(type) && strcmp(type->valuestring, "#microsoft.graph.user") == 0;
}

/* mail when it is a non-empty string, else userPrincipalName, else NULL. */
static char *
owner_address(const cJSON *obj)
{
	static const char *const names[] = { "mail", "userPrincipalName" };
	const cJSON *v;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = cJSON_GetObjectItemCaseSensitive(obj, names[i]);
		if (cJSON_IsString(v) && v->valuestring[0] != '\0' &&
		    strlen(v->valuestring) <= GRAPH_FIELD_MAX)
			return xstrdup(v->valuestring);
	}
	return NULL;
}

static int
parse_owner(const cJSON *obj, struct graph_owner *o, char **err)
{
	memset(o, 0, sizeof(*o));
	if (get_str(obj, "id", 1, &o->id, err) == -1 ||
	    get_str(obj, "displayName", 0, &o->display_name, err) == -1) {
		free(o->id);
		memset(o, 0, sizeof(*o));
		return -1;
	}
	o->address = owner_address(obj);
	return 0;
}

static int
append_owners(const cJSON *value, struct graph_owner **owners, size_t *n, char **err)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, value) {
		if (!cJSON_IsObject(item) || !is_user(item))
			continue;
		if (*n >= GRAPH_MAX_OWNERS) {
			*err = xasprintf("more than %d owners", GRAPH_MAX_OWNERS);
			return -1;
		}
		*owners = xrealloc(*owners, (*n + 1) * sizeof(**owners));
		if (parse_owner(item, &(*owners)[*n], err) == -1)
			return -1;
		(*n)++;
	}
	return 0;
}

/*
 * Opens one page of a Graph collection: the document into *root (caller
 * deletes it, also on failure; NULL when it did not parse), its "value" array
 * into *value and @odata.nextLink into *next_link (caller frees).  0 or -1.
 */
static int
page_open(const char *body, size_t len, cJSON **root, cJSON **value, char **next_link,
    char **err)
{
	*next_link = NULL;
	*value = NULL;
	*root = parse_object(body, len, err);
	if (*root == NULL)
		return -1;
	*value = cJSON_GetObjectItemCaseSensitive(*root, "value");
	if (!cJSON_IsArray(*value)) {
		*err = xstrdup("\"value\" is not an array");
		return -1;
	}
	return json_get_str(*root, "@odata.nextLink", GRAPH_LINK_MAX, 0, next_link, err);
}

/* What a page came to: on failure the next link is dropped. */
static int
page_close(cJSON *root, int rc, char **next_link)
{
	if (rc == -1) {
		free(*next_link);
		*next_link = NULL;
	}
	cJSON_Delete(root);
	return rc;
}

int
graph_parse_owners_page(const char *body, size_t len, struct graph_owner **owners,
    size_t *n, char **next_link, char **err)
{
	cJSON *root, *value;
	int rc = page_open(body, len, &root, &value, next_link, err);

	if (rc == 0)
		rc = append_owners(value, owners, n, err);
	return page_close(root, rc, next_link);
}

void
graph_owners_free(struct graph_owner *owners, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(owners[i].id);
		free(owners[i].address);
		free(owners[i].display_name);
	}
	free(owners);
}

static int
get_bool(const cJSON *obj, const char *name, int *out, char **err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = -1;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v)) {
		*err = xasprintf("\"%s\" is not a boolean", name);
		return -1;
	}
	*out = cJSON_IsTrue(v) ? 1 : 0;
	return 0;
}

int
graph_parse_user(const char *body, size_t len, struct graph_user *out, char **err)
{
	cJSON *root = parse_object(body, len, err);
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->account_enabled = -1;
	if (root == NULL)
		return -1;
	if (get_str(root, "id", 1, &out->id, err) == 0 &&
	    get_str(root, "mail", 0, &out->mail, err) == 0 &&
	    get_str(root, "userPrincipalName", 0, &out->user_principal_name, err) == 0 &&
	    get_bool(root, "accountEnabled", &out->account_enabled, err) == 0 &&
	    get_time(root, "signInSessionsValidFromDateTime", &out->sessions_valid_from,
		err) == 0 &&
	    get_time(root, "lastPasswordChangeDateTime", &out->last_password_change, err) == 0)
		rc = 0;
	cJSON_Delete(root);
	if (rc == -1)
		graph_user_clear(out);
	return rc;
}

void
graph_user_clear(struct graph_user *u)
{
	free(u->id);
	free(u->mail);
	free(u->user_principal_name);
	memset(u, 0, sizeof(*u));
	u->account_enabled = -1;
}

static int
subscription_from(const cJSON *obj, struct graph_subscription *out, char **err)
{
	memset(out, 0, sizeof(*out));
	if (!cJSON_IsObject(obj)) {
		*err = xstrdup("a subscription is not an object");
		return -1;
	}
	if (get_str(obj, "id", 1, &out->id, err) == 0 &&
	    get_str(obj, "resource", 0, &out->resource, err) == 0 &&
	    get_str(obj, "changeType", 0, &out->change_type, err) == 0 &&
	    get_str(obj, "notificationUrl", 0, &out->notification_url, err) == 0 &&
	    get_time(obj, "expirationDateTime", &out->expiration, err) == 0)
		return 0;
	graph_subscription_clear(out);
	return -1;
}

int
graph_parse_subscription(const char *body, size_t len, struct graph_subscription *out,
    char **err)
{
	cJSON *root = parse_object(body, len, err);
	int rc;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	rc = subscription_from(root, out, err);
	/* Graph echoes clientState, which is a shared secret. */
	scrub_string(root, "clientState");
	cJSON_Delete(root);
	return rc;
}

void
graph_subscription_clear(struct graph_subscription *s)
{
	free(s->id);
	free(s->resource);
	free(s->change_type);
	free(s->notification_url);
	memset(s, 0, sizeof(*s));
}

static int
append_subscriptions(const cJSON *value, struct graph_subscription **subs, size_t *n,
    char **err)
{
	const cJSON *item;

	cJSON_ArrayForEach(item, value) {
		if (*n >= GRAPH_MAX_SUBSCRIPTIONS) {
			*err = xasprintf("more than %d subscriptions", GRAPH_MAX_SUBSCRIPTIONS);
			return -1;
		}
		*subs = xrealloc(*subs, (*n + 1) * sizeof(**subs));
		if (subscription_from(item, &(*subs)[*n], err) == -1)
			return -1;
		(*n)++;
	}
	return 0;
}

int
graph_parse_subscriptions_page(const char *body, size_t len, struct graph_subscription **subs,
    size_t *n, char **next_link, char **err)
{
	cJSON *root, *value, *item;
	int rc = page_open(body, len, &root, &value, next_link, err);

	if (rc == 0)
		rc = append_subscriptions(value, subs, n, err);
	/* Each entry echoes clientState, which is a shared secret. */
	if (cJSON_IsArray(value)) {
		cJSON_ArrayForEach(item, value)
			scrub_string(item, "clientState");
	}
	return page_close(root, rc, next_link);
}

void
graph_subscriptions_free(struct graph_subscription *subs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		graph_subscription_clear(&subs[i]);
	free(subs);
}
