#include "outbound/graph.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/identity.h"
#include "proto/jwt.h"
#include "state/config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#define GRAPH_JSON_DEPTH_MAX 32
/* A nextLink carries a skiptoken, longer than the other fields. */
#define GRAPH_LINK_MAX 8192
#define APP_SELECT "$select=id,appId,displayName,signInAudience,passwordCredentials"
#define USER_SELECT "$select=id,mail,userPrincipalName,accountEnabled," \
	"signInSessionsValidFromDateTime,lastPasswordChangeDateTime"
#define CONCURRENCY_CODE "Directory_ConcurrencyViolation"
#define CONCURRENCY_TEXT "Error due to concurrent requests being made to the tenant"
#define LIFETIME_CODE "CredentialInvalidLifetimeAsPerAppPolicy"

enum graph_op {
	OP_FIND_APP,
	OP_GET_APP,
	OP_ADD_PASSWORD,
	OP_REMOVE_PASSWORD,
	OP_OWNERS,
	OP_GET_USER,
	OP_SUB_CREATE,
	OP_SUB_LIST,
	OP_SUB_RENEW,
	OP_SUB_REAUTHORIZE,
	OP_SUB_DELETE,
	OP_GET_JSON,
};

/*
 * One call.  It is on its client's list from submission until it finishes;
 * gc is NULL once the client is gone, and then whichever callback holds the
 * call (a token waiter or an HTTP request) frees it.
 */
struct graph_call {
	TAILQ_ENTRY(graph_call) entry;
	struct graph_client *gc;
	enum graph_op op;
	const char *method;
	char *url;
	struct secret *body;		/* JSON; NULL when there is none */
	int max_attempts;		/* 0 = http_client's default */
	int auth_retried;
	uint64_t token_gen;
	char guid[CRYPTO_GUID_LEN + 1];	/* client-request-id and our req_id */
	char *guid_header;
	graph_cb cb;
	void *arg;
	struct graph_owner *owners;	/* accumulated over pages */
	size_t n_owners;
	struct graph_subscription *subs;	/* accumulated over pages */
	size_t n_subs;
	int pages;
};
TAILQ_HEAD(graph_call_list, graph_call);

struct graph_client {
	struct http_client *hc;
	struct identity *id;
	char *base;			/* without a trailing slash */
	char *app;
	struct graph_call_list calls;
};

static const char *const outcome_names[] = {
	"ok", "not_found", "lifetime_policy", "retryable", "permanent", "cancelled",
};

const char *
graph_outcome_name(enum graph_outcome outcome)
{
	if ((size_t)outcome >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "unknown";
	return outcome_names[outcome];
}

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
	if (outcome == HTTP_OUTCOME_RETRYABLE || graph_error_is_concurrency(status, e))
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

/* --- URLs and bodies ---------------------------------------------------- */

static void
add_base(struct wbuf *b, const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	wbuf_add(b, base, n);
}

/* base + each segment percent-encoded after a slash (NULL ends the list). */
static char *
path_url(const char *base, const char *seg1, const char *seg2, const char *seg3)
{
	const char *segs[] = { seg1, seg2, seg3 };
	struct wbuf b = WBUF_INIT;
	size_t i;

	add_base(&b, base);
	for (i = 0; i < 3 && segs[i] != NULL; i++) {
		wbuf_add_str(&b, "/");
		wbuf_add_escaped(&b, segs[i], strlen(segs[i]));
	}
	return wbuf_to_str(&b);
}

static char *
with_query(char *url, const char *query)
{
	char *full = xasprintf("%s?%s", url, query);

	free(url);
	return full;
}

char *
graph_find_application_url(const char *graph_base, const char *app_id)
{
	struct wbuf filter = WBUF_INIT, b = WBUF_INIT;
	const char *p;

	/* An OData string literal doubles its single quotes. */
	wbuf_add_str(&filter, "appId eq '");
	for (p = app_id; *p != '\0'; p++) {
		if (*p == '\'')
			wbuf_add_str(&filter, "''");
		else
			wbuf_add(&filter, p, 1);
	}
	wbuf_add_str(&filter, "'");
	add_base(&b, graph_base);
	wbuf_add_str(&b, "/applications?$filter=");
	wbuf_add_escaped(&b, filter.data, filter.len);
	wbuf_add_str(&b, "&" APP_SELECT);
	wbuf_clear(&filter);
	return wbuf_to_str(&b);
}

/* Length of "scheme://authority" at the start of url, or 0. */
static size_t
origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (p == NULL || p == url)
		return 0;
	return (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
}

int
graph_link_allowed(const char *graph_base, const char *link)
{
	size_t n = origin_len(graph_base);

	return n > 0 && strncmp(link, graph_base, n) == 0 && link[n] == '/';
}

static void
json_field(struct wbuf *b, const char *name, const void *value, size_t len)
{
	if (b->len > 0 && b->data[b->len - 1] != '{')
		wbuf_add_str(b, ",");
	wbuf_add_json_string(b, name, strlen(name));
	wbuf_add_str(b, ":");
	wbuf_add_json_string(b, value, len);
}

static void
json_str_field(struct wbuf *b, const char *name, const char *value)
{
	json_field(b, name, value, strlen(value));
}

static void
json_time_field(struct wbuf *b, const char *name, int64_t t)
{
	char buf[UTIL_TIME_MAX];

	util_format_time(t, buf, sizeof(buf));
	json_str_field(b, name, buf);
}

struct secret *
graph_subscription_body(const struct graph_subscription_spec *spec)
{
	struct wbuf b = WBUF_INIT;

	wbuf_add_str(&b, "{");
	json_str_field(&b, "changeType", spec->change_type);
	json_str_field(&b, "notificationUrl", spec->notification_url);
	if (spec->lifecycle_url != NULL)
		json_str_field(&b, "lifecycleNotificationUrl", spec->lifecycle_url);
	json_str_field(&b, "resource", spec->resource);
	json_time_field(&b, "expirationDateTime", spec->expiration);
	json_field(&b, "clientState", spec->client_state->data, spec->client_state->len);
	json_str_field(&b, "latestSupportedTlsVersion", "v1_2");
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

struct secret *
graph_add_password_body(const char *display_name, int64_t end)
{
	struct wbuf b = WBUF_INIT;

	wbuf_add_str(&b, "{\"passwordCredential\":{");
	json_str_field(&b, "displayName", display_name);
	json_time_field(&b, "endDateTime", end);
	wbuf_add_str(&b, "}}");
	return wbuf_to_secret(&b);
}

static struct secret *
one_field_body(const char *name, const char *value)
{
	struct wbuf b = WBUF_INIT;

	wbuf_add_str(&b, "{");
	json_str_field(&b, name, value);
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

/* --- the client --------------------------------------------------------- */

struct graph_client *
graph_client_new(struct http_client *hc, const char *graph_base, struct identity *id,
    const char *app)
{
	struct graph_client *gc = xcalloc(1, sizeof(*gc));
	size_t n = strlen(graph_base);

	while (n > 0 && graph_base[n - 1] == '/')
		n--;
	gc->hc = hc;
	gc->id = id;
	gc->base = xstrndup(graph_base, n);
	gc->app = app != NULL ? xstrdup(app) : NULL;
	TAILQ_INIT(&gc->calls);
	return gc;
}

struct graph_client *
graph_client_from_app(struct http_client *hc, const struct config_app *app, char **err)
{
	struct identity *id;

	if (app->graph_base == NULL || app->graph_base[0] == '\0') {
		*err = xasprintf("app %s: graph_base is empty", app->name);
		return NULL;
	}
	id = identity_rotator_new(hc, app, err);
	if (id == NULL)
		return NULL;
	return graph_client_new(hc, app->graph_base, id, app->name);
}

static void
call_free(struct graph_call *c)
{
	free(c->url);
	secret_free(c->body);
	free(c->guid_header);
	graph_owners_free(c->owners, c->n_owners);
	graph_subscriptions_free(c->subs, c->n_subs);
	free(c);
}

static void
cancelled_result(struct graph_result *res, const struct graph_call *c)
{
	memset(res, 0, sizeof(*res));
	res->outcome = GRAPH_CANCELLED;
	res->detail = "graph client freed";
	res->client_request_id = c->guid;
	res->retry_after_ms = -1;
}

void
graph_client_free(struct graph_client *gc)
{
	struct graph_result res;
	struct graph_call *c;

	if (gc == NULL)
		return;
	/*
	 * Detach every pending call first and tell its caller; the token
	 * waiter or HTTP request still holding the call frees it later.
	 */
	for (c = TAILQ_FIRST(&gc->calls); c != NULL; c = TAILQ_FIRST(&gc->calls)) {
		TAILQ_REMOVE(&gc->calls, c, entry);
		c->gc = NULL;
		cancelled_result(&res, c);
		c->cb(&res, c->arg);
	}
	identity_free(gc->id);
	free(gc->base);
	free(gc->app);
	free(gc);
}

/* Takes c off its client's list, tells the caller, frees c.  gc is not touched after cb. */
static void
call_finish(struct graph_call *c, const struct graph_result *res)
{
	TAILQ_REMOVE(&c->gc->calls, c, entry);
	c->gc = NULL;
	c->cb(res, c->arg);
	call_free(c);
}

/* Finishes c without an answer to show: a local failure or a token failure. */
static void
call_fail(struct graph_call *c, enum graph_outcome outcome, const char *detail,
    const struct identity_result *token)
{
	struct graph_result res;

	memset(&res, 0, sizeof(res));
	res.outcome = outcome;
	res.detail = detail;
	res.client_request_id = c->guid;
	res.retry_after_ms = -1;
	res.token = token;
	if (token != NULL)
		res.status = token->http_status;
	call_finish(c, &res);
}

static void answer_cb(const struct http_response *resp, void *arg);
static void token_cb(const struct identity_result *res, void *arg);

static int
call_send(struct graph_call *c, const struct secret *bearer)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = c->method;
	req.url = c->url;
	if (c->body != NULL) {
		req.content_type = "application/json";
		req.body = c->body->data;
		req.body_len = c->body->len;
	}
	req.bearer = bearer;
	req.headers[0] = c->guid_header;
	req.service = "graph";
	req.req_id = c->guid;
	req.app = c->gc->app;
	req.max_response = GRAPH_MAX_RESPONSE;
	req.max_attempts = c->max_attempts;
	req.classify = graph_classify;
	return http_client_send(c->gc->hc, &req, answer_cb, c);
}

/* Sends with the cached token, or waits for a new one.  0, or -1 when nothing is pending. */
static int
call_start(struct graph_call *c)
{
	const struct secret *tok;
	uint64_t gen = 0;

	tok = identity_cached_token(c->gc->id, &gen);
	if (tok != NULL) {
		c->token_gen = gen;
		return call_send(c, tok);
	}
	return identity_get_token(c->gc->id, token_cb, c);
}

static enum graph_outcome
token_outcome(const struct identity_result *res)
{
	if (res->status == IDENTITY_CANCELLED)
		return GRAPH_CANCELLED;
	return res->status == IDENTITY_RETRYABLE ? GRAPH_RETRYABLE : GRAPH_PERMANENT;
}

static void
token_cb(const struct identity_result *res, void *arg)
{
	struct graph_call *c = arg;

	if (c->gc == NULL) {
		call_free(c);
		return;
	}
	if (res->status != IDENTITY_OK) {
		call_fail(c, token_outcome(res), "no token for Graph", res);
		return;
	}
	c->token_gen = res->token_gen;
	if (call_send(c, res->access_token) == -1)
		call_fail(c, GRAPH_PERMANENT, "request not sent", NULL);
}

/* What a successful answer carried; the result points into it. */
struct payload {
	struct graph_application application;
	struct graph_new_password password;
	struct graph_user user;
	struct graph_subscription subscription;
};

/* Parses the payload of a successful answer into the result; -1 and *err when it is wrong. */
static int
parse_payload(struct graph_call *c, const struct http_response *resp, struct payload *p,
    struct graph_result *res, char **err)
{
	int found = 0;

	switch (c->op) {
	case OP_FIND_APP:
		if (graph_parse_application_list(resp->body, resp->body_len, &p->application,
		    &found, err) == -1)
			return -1;
		if (found)
			res->application = &p->application;
		else
			res->outcome = GRAPH_NOT_FOUND;
		return 0;
	case OP_GET_APP:
		if (graph_parse_application(resp->body, resp->body_len, &p->application,
		    err) == -1)
			return -1;
		res->application = &p->application;
		return 0;
	case OP_ADD_PASSWORD:
		if (graph_parse_new_password(resp->body, resp->body_len, &p->password, err) == -1)
			return -1;
		/* Without its text the credential is useless, but the caller must remove it. */
		res->password = &p->password;
		if (p->password.secret_text == NULL) {
			*err = xstrdup("addPassword answer without secretText");
			return -1;
		}
		return 0;
	case OP_GET_USER:
		if (graph_parse_user(resp->body, resp->body_len, &p->user, err) == -1)
			return -1;
		res->user = &p->user;
		return 0;
	case OP_SUB_CREATE:
	case OP_SUB_RENEW:
		/* A renewal has done its work even when nothing comes back. */
		if (c->op == OP_SUB_RENEW && resp->body_len == 0)
			return 0;
		if (graph_parse_subscription(resp->body, resp->body_len, &p->subscription,
		    err) == -1)
			return -1;
		res->subscription = &p->subscription;
		return 0;
	case OP_OWNERS:
		res->owners = c->owners;
		res->n_owners = c->n_owners;
		return 0;
	default:
		/* removePassword, reauthorize and delete answer 204 with nothing to read. */
		return 0;
	}
}

static void
payload_clear(struct payload *p)
{
	graph_application_clear(&p->application);
	graph_new_password_clear(&p->password);
	graph_user_clear(&p->user);
	graph_subscription_clear(&p->subscription);
}

static void
finish_answer(struct graph_call *c, const struct http_response *resp)
{
	struct graph_result res;
	struct graph_error e;
	struct payload p;
	const char *ra;
	char *err = NULL;

	memset(&res, 0, sizeof(res));
	memset(&p, 0, sizeof(p));
	memset(&e, 0, sizeof(e));
	res.status = resp->status;
	res.detail = resp->error;
	res.client_request_id = c->guid;
	res.request_id = resp->service_request_id;
	ra = http_response_header(resp, "Retry-After");
	res.retry_after_ms = ra != NULL ? http_parse_retry_after(ra, time(NULL)) : -1;
	if (resp->outcome != HTTP_OUTCOME_OK &&
	    graph_parse_error(resp->body, resp->body_len, &e) == 0) {
		res.error = &e;
		if (e.request_id != NULL)
			res.request_id = e.request_id;
	}
	res.outcome = graph_outcome_of(resp->outcome, resp->status, res.error);
	if (res.outcome == GRAPH_OK && c->op == OP_GET_JSON) {
		res.body = resp->body;
		res.body_len = resp->body_len;
	}
	if (res.outcome == GRAPH_OK && parse_payload(c, resp, &p, &res, &err) == -1) {
		res.outcome = GRAPH_PERMANENT;
		res.detail = err;
	}
	call_finish(c, &res);
	payload_clear(&p);
	graph_error_clear(&e);
	free(err);
}

/*
 * Requests next (taken; NULL: there is none) as c's next page.  1 when it
 * was requested (c continues), 0 when there is none, -1 and *err.
 */
static int
next_page(struct graph_call *c, char *next, char **err)
{
	if (next == NULL)
		return 0;
	if (!graph_link_allowed(c->gc->base, next)) {
		*err = xstrdup("@odata.nextLink points away from graph_base");
		free(next);
		return -1;
	}
	free(c->url);
	c->url = next;
	c->auth_retried = 0;
	if (call_start(c) == -1) {
		*err = xstrdup("next page not requested");
		return -1;
	}
	return 1;
}

/* Takes in one page of owners; what next_page returns, or -1 and *err on a bad page. */
static int
owners_page(struct graph_call *c, const struct http_response *resp, char **err)
{
	char *next = NULL;

	if (graph_parse_owners_page(resp->body, resp->body_len, &c->owners, &c->n_owners, &next,
	    err) == -1)
		return -1;
	c->pages++;
	if (next != NULL && c->pages >= GRAPH_OWNER_PAGES_MAX) {
		c->pages = GRAPH_OWNER_PAGES_MAX + 1;	/* truncated */
		free(next);
		return 0;
	}
	return next_page(c, next, err);
}

/* The same for subscriptions, where a truncated list would hide the one to adopt. */
static int
subscriptions_page(struct graph_call *c, const struct http_response *resp, char **err)
{
	char *next = NULL;

	if (graph_parse_subscriptions_page(resp->body, resp->body_len, &c->subs, &c->n_subs, &next,
	    err) == -1)
		return -1;
	c->pages++;
	if (next != NULL && c->pages >= GRAPH_SUBSCRIPTION_PAGES_MAX) {
		*err = xasprintf("more than %d pages of subscriptions",
		    GRAPH_SUBSCRIPTION_PAGES_MAX);
		free(next);
		return -1;
	}
	return next_page(c, next, err);
}

static void
finish_pages(struct graph_call *c, const struct http_response *resp)
{
	struct graph_result res;
	char *err = NULL;
	int rc = c->op == OP_OWNERS ? owners_page(c, resp, &err) :
	    subscriptions_page(c, resp, &err);

	if (rc == 1)
		return;
	if (rc == -1) {
		call_fail(c, GRAPH_PERMANENT, err, NULL);
		free(err);
		return;
	}
	memset(&res, 0, sizeof(res));
	res.outcome = GRAPH_OK;
	res.status = resp->status;
	res.client_request_id = c->guid;
	res.request_id = resp->service_request_id;
	res.retry_after_ms = -1;
	res.owners = c->owners;
	res.n_owners = c->n_owners;
	res.owners_truncated = c->op == OP_OWNERS && c->pages > GRAPH_OWNER_PAGES_MAX;
	res.subscriptions = c->subs;
	res.n_subscriptions = c->n_subs;
	call_finish(c, &res);
}

static void
answer_cb(const struct http_response *resp, void *arg)
{
	struct graph_call *c = arg;

	if (c->gc == NULL) {
		call_free(c);
		return;
	}
	/* A token Graph no longer takes (revoked, rotated keys): one more try with a new one. */
	if (resp->status == 401 && resp->outcome != HTTP_OUTCOME_OK && !c->auth_retried) {
		c->auth_retried = 1;
		identity_invalidate(c->gc->id, c->token_gen);
		if (call_start(c) == -1)
			call_fail(c, GRAPH_PERMANENT, "retry after 401 not sent", NULL);
		return;
	}
	if ((c->op == OP_OWNERS || c->op == OP_SUB_LIST) && resp->outcome == HTTP_OUTCOME_OK)
		finish_pages(c, resp);
	else
		finish_answer(c, resp);
}

static struct graph_call *
call_new(enum graph_op op, const char *method, char *url, struct secret *body, graph_cb cb,
    void *arg)
{
	struct graph_call *c = xcalloc(1, sizeof(*c));

	c->op = op;
	c->method = method;
	c->url = url;
	c->body = body;
	c->cb = cb;
	c->arg = arg;
	if (crypto_guid(c->guid) == -1)
		util_strlcpy(c->guid, "00000000-0000-4000-8000-000000000000", sizeof(c->guid));
	c->guid_header = xasprintf("client-request-id: %s", c->guid);
	return c;
}

static int
call_submit(struct graph_client *gc, struct graph_call *c)
{
	c->gc = gc;
	TAILQ_INSERT_TAIL(&gc->calls, c, entry);
	if (call_start(c) == 0)
		return 0;
	TAILQ_REMOVE(&gc->calls, c, entry);
	log_ctx(LOG_LEVEL_ERROR, c->guid, gc->app, "graph %s %s: not sent", c->method, c->url);
	call_free(c);
	return -1;
}

static int
bad_arg(struct graph_client *gc, const char *what)
{
	log_ctx(LOG_LEVEL_ERROR, NULL, gc->app, "graph: %s is empty", what);
	return -1;
}

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

int
graph_find_application(struct graph_client *gc, const char *app_id, graph_cb cb, void *arg)
{
	if (empty(app_id))
		return bad_arg(gc, "appId");
	return call_submit(gc, call_new(OP_FIND_APP, "GET",
	    graph_find_application_url(gc->base, app_id), NULL, cb, arg));
}

int
graph_get_application(struct graph_client *gc, const char *object_id, graph_cb cb, void *arg)
{
	if (empty(object_id))
		return bad_arg(gc, "application object id");
	return call_submit(gc, call_new(OP_GET_APP, "GET",
	    with_query(path_url(gc->base, "applications", object_id, NULL), APP_SELECT), NULL,
	    cb, arg));
}

int
graph_add_password(struct graph_client *gc, const char *object_id, const char *display_name,
    int64_t end, graph_cb cb, void *arg)
{
	struct graph_call *c;

	if (empty(object_id) || empty(display_name))
		return bad_arg(gc, "application object id or displayName");
	c = call_new(OP_ADD_PASSWORD, "POST",
	    path_url(gc->base, "applications", object_id, "addPassword"),
	    graph_add_password_body(display_name, end), cb, arg);
	c->max_attempts = 1;
	return call_submit(gc, c);
}

int
graph_remove_password(struct graph_client *gc, const char *object_id, const char *key_id,
    graph_cb cb, void *arg)
{
	if (empty(object_id) || empty(key_id))
		return bad_arg(gc, "application object id or keyId");
	return call_submit(gc, call_new(OP_REMOVE_PASSWORD, "POST",
	    path_url(gc->base, "applications", object_id, "removePassword"),
	    one_field_body("keyId", key_id), cb, arg));
}

int
graph_list_owners(struct graph_client *gc, const char *object_id, graph_cb cb, void *arg)
{
	if (empty(object_id))
		return bad_arg(gc, "application object id");
	return call_submit(gc, call_new(OP_OWNERS, "GET",
	    path_url(gc->base, "applications", object_id, "owners"), NULL, cb, arg));
}

static int
guid_shaped(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return s[36] == '\0';
}

/*
 * Letters, digits and the others given; no '.' first, last or twice in a row
 * (so no part is ever a dot segment).
 */
static int
upn_part_ok(const char *s, size_t n, const char *others)
{
	size_t i;

	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (isalnum((unsigned char)s[i]))
			continue;
		if (strchr(others, s[i]) == NULL || (s[i] == '.' && s[i + 1] == '.'))
			return 0;
	}
	return 1;
}

int
graph_user_id_valid(const char *id)
{
	const char *at;
	size_t len;

	if (id == NULL)
		return 0;
	len = strlen(id);
	if (len == 36 && guid_shaped(id))
		return 1;
	/* Entra ID: at most 113 characters, local part 64; ' . - _ ! # ^ ~ in the local part. */
	at = strchr(id, '@');
	if (len > 113 || at == NULL || strchr(at + 1, '@') != NULL || at - id > 64)
		return 0;
	return upn_part_ok(id, (size_t)(at - id), ".-_'!#^~") &&
	    upn_part_ok(at + 1, len - (size_t)(at - id) - 1, ".-");
}

int
graph_get_user(struct graph_client *gc, const char *user_id, graph_cb cb, void *arg)
{
	if (empty(user_id))
		return bad_arg(gc, "user id");
	if (!graph_user_id_valid(user_id)) {
		log_ctx(LOG_LEVEL_ERROR, NULL, gc->app, "graph: a user id that is neither a GUID "
		    "nor a userPrincipalName, not asked for");
		return -1;
	}
	return call_submit(gc, call_new(OP_GET_USER, "GET",
	    with_query(path_url(gc->base, "users", user_id, NULL), USER_SELECT), NULL, cb, arg));
}

int
graph_create_subscription(struct graph_client *gc, const struct graph_subscription_spec *spec,
    graph_cb cb, void *arg)
{
	if (empty(spec->change_type) || empty(spec->notification_url) || empty(spec->resource) ||
	    spec->client_state == NULL || spec->client_state->len == 0)
		return bad_arg(gc, "a subscription field");
	return call_submit(gc, call_new(OP_SUB_CREATE, "POST",
	    path_url(gc->base, "subscriptions", NULL, NULL), graph_subscription_body(spec), cb,
	    arg));
}

int
graph_list_subscriptions(struct graph_client *gc, graph_cb cb, void *arg)
{
	return call_submit(gc, call_new(OP_SUB_LIST, "GET",
	    path_url(gc->base, "subscriptions", NULL, NULL), NULL, cb, arg));
}

int
graph_renew_subscription(struct graph_client *gc, const char *id, int64_t expiration,
    graph_cb cb, void *arg)
{
	char when[UTIL_TIME_MAX];

	if (empty(id))
		return bad_arg(gc, "subscription id");
	util_format_time(expiration, when, sizeof(when));
	return call_submit(gc, call_new(OP_SUB_RENEW, "PATCH",
	    path_url(gc->base, "subscriptions", id, NULL),
	    one_field_body("expirationDateTime", when), cb, arg));
}

int
graph_reauthorize_subscription(struct graph_client *gc, const char *id, graph_cb cb, void *arg)
{
	if (empty(id))
		return bad_arg(gc, "subscription id");
	return call_submit(gc, call_new(OP_SUB_REAUTHORIZE, "POST",
	    path_url(gc->base, "subscriptions", id, "reauthorize"), NULL, cb, arg));
}

int
graph_delete_subscription(struct graph_client *gc, const char *id, graph_cb cb, void *arg)
{
	if (empty(id))
		return bad_arg(gc, "subscription id");
	return call_submit(gc, call_new(OP_SUB_DELETE, "DELETE",
	    path_url(gc->base, "subscriptions", id, NULL), NULL, cb, arg));
}

int
graph_get_json(struct graph_client *gc, const char *path, graph_cb cb, void *arg)
{
	struct wbuf b = WBUF_INIT;

	if (empty(path) || path[0] != '/')
		return bad_arg(gc, "path");
	add_base(&b, gc->base);
	wbuf_add_str(&b, path);
	return call_submit(gc, call_new(OP_GET_JSON, "GET", wbuf_to_str(&b), NULL, cb, arg));
}
