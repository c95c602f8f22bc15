/*
 * graph: the Microsoft Graph calls (graph.h), each a request on http_client
 * with a token from the identity: the URLs and JSON bodies, the token and
 * its one retry after a 401, paging through @odata.nextLink, and the
 * answer handed to the caller.  Reading the answers is graph_parse.c's job.
 */
#include "outbound/graph.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/api_call.h"
#include "outbound/identity.h"
#include "proto/jwt.h"
#include "state/config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

/* createdDateTime: whether an app management policy's restrictForAppsCreatedAfterDateTime covers it. */
#define APP_SELECT "$select=id,appId,displayName,signInAudience,passwordCredentials,createdDateTime"
#define USER_SELECT "$select=id,mail,userPrincipalName,accountEnabled," \
	"signInSessionsValidFromDateTime,lastPasswordChangeDateTime"

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
	/* Its req_id is also the client-request-id Graph logs (header). */
	struct api_call call;
	int auth_retried;
	uint64_t token_gen;
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

	gc->hc = hc;
	gc->id = id;
	gc->base = api_base_url(graph_base);
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
	api_call_clear(&c->call);
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
	res->client_request_id = c->call.req_id;
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
	res.client_request_id = c->call.req_id;
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

	api_call_request(&c->call, &req, "graph", c->gc->app, GRAPH_MAX_RESPONSE);
	req.bearer = bearer;
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
	res.client_request_id = c->call.req_id;
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
	free(c->call.url);
	c->call.url = next;
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
	res.client_request_id = c->call.req_id;
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
	api_call_init(&c->call, method, url, body);
	c->call.header = xasprintf("client-request-id: %s", c->call.req_id);
	c->cb = cb;
	c->arg = arg;
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
	api_call_not_sent(&c->call, "graph", gc->app);
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
	c->call.max_attempts = 1;
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
