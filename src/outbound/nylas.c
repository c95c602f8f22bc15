/*
 * nylas: the Nylas v3 REST calls (nylas.h), each a request on http_client
 * with the app's API key: the URLs and JSON bodies, the walk through pages
 * of grants, and the answer handed to the caller.  Reading the answers is
 * nylas_parse.c's job.
 */
#include "outbound/nylas.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/api_call.h"
#include "proto/jwt.h"
#include "state/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

enum nylas_op {
	OP_GET_CONNECTOR,
	OP_PATCH_CONNECTOR,
	OP_PATCH_CREDENTIAL,
	OP_LIST_GRANTS,
	OP_CREATE_WEBHOOK,
	OP_ROTATE_SECRET,
	OP_UPDATE_WEBHOOK,
	OP_SEND_MESSAGE,
	OP_GET_JSON,
};

/* The state of a grants listing between pages. */
struct grants_walk {
	char *provider;
	char *grant_status;
	int limit;
	int max_pages;
	int pages;
	int64_t offset;
	struct nylas_grant *grants;
	size_t n;
	int truncated;
};

/*
 * One call, on its client's list until it finishes; nc is NULL once the
 * client is gone, and the HTTP callback then frees the call.
 */
struct nylas_call {
	TAILQ_ENTRY(nylas_call) entry;
	struct nylas_client *nc;
	enum nylas_op op;
	struct api_call call;		/* its header: "Idempotency-Key: ..." or none */
	struct grants_walk walk;
	nylas_cb cb;
	void *arg;
};
TAILQ_HEAD(nylas_call_list, nylas_call);

struct nylas_client {
	struct http_client *hc;
	char *base;			/* without a trailing slash */
	struct secret *api_key;
	char *app;
	struct nylas_call_list calls;
};

static const char *const outcome_names[] = {
	"ok", "not_found", "retryable", "permanent", "cancelled",
};

const char *
nylas_outcome_name(enum nylas_outcome outcome)
{
	if ((size_t)outcome >= sizeof(outcome_names) / sizeof(outcome_names[0]))
		return "unknown";
	return outcome_names[outcome];
}

/* --- bodies and URLs ---------------------------------------------------- */

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

static void
json_key(struct wbuf *b, const char *name)
{
	wbuf_add_json_string(b, name, strlen(name));
	wbuf_add_str(b, ":");
}

static void
json_str(struct wbuf *b, const char *s)
{
	wbuf_add_json_string(b, s, strlen(s));
}

static void
json_str_array(struct wbuf *b, const char *const *items, size_t n)
{
	size_t i;

	wbuf_add_str(b, "[");
	for (i = 0; i < n; i++) {
		if (i > 0)
			wbuf_add_str(b, ",");
		json_str(b, items[i]);
	}
	wbuf_add_str(b, "]");
}

/*
 * {"client_id":…,"client_secret":…[,"tenant":…]}.  The tenant is optional in
 * Nylas's API (nylas-nodejs src/models/connectors.ts and nylas-python
 * nylas/models/connectors.py: MicrosoftCreateConnectorSettings has
 * "tenant?" / NotRequired[str]; Nylas's default is "common"), so it is left
 * out when the caller has none: never one made up here.
 */
static void
azure_settings(struct wbuf *b, const char *client_id, const struct secret *client_secret,
    const char *tenant)
{
	wbuf_add_str(b, "{");
	json_key(b, "client_id");
	json_str(b, client_id);
	wbuf_add_str(b, ",");
	json_key(b, "client_secret");
	wbuf_add_json_string(b, client_secret->data, client_secret->len);
	if (!empty(tenant)) {
		wbuf_add_str(b, ",");
		json_key(b, "tenant");
		json_str(b, tenant);
	}
	wbuf_add_str(b, "}");
}

/* client_id and client_secret: the two a replaced nested object cannot do without. */
static int
settings_complete(const char *client_id, const struct secret *client_secret)
{
	return !empty(client_id) && client_secret != NULL && client_secret->len > 0;
}

struct secret *
nylas_connector_body(const char *client_id, const struct secret *client_secret,
    const char *tenant, const char *const *scope, size_t n_scope)
{
	struct wbuf b = WBUF_INIT;

	if (!settings_complete(client_id, client_secret))
		return NULL;
	wbuf_add_str(&b, "{");
	json_key(&b, "settings");
	azure_settings(&b, client_id, client_secret, tenant);
	if (n_scope > 0) {
		wbuf_add_str(&b, ",");
		json_key(&b, "scope");
		json_str_array(&b, scope, n_scope);
	}
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

struct secret *
nylas_credential_body(const char *client_id, const struct secret *client_secret,
    const char *tenant)
{
	struct wbuf b = WBUF_INIT;

	if (!settings_complete(client_id, client_secret))
		return NULL;
	wbuf_add_str(&b, "{");
	json_key(&b, "credential_data");
	azure_settings(&b, client_id, client_secret, tenant);
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

static void
query_param(struct wbuf *b, const char *name, const char *value)
{
	wbuf_add_str(b, b->data[b->len - 1] == '?' ? "" : "&");
	wbuf_add_str(b, name);
	wbuf_add_str(b, "=");
	wbuf_add_escaped(b, value, strlen(value));
}

static int
grants_limit(const struct nylas_grant_query *q)
{
	if (q->limit <= 0)
		return NYLAS_GRANTS_LIMIT_DEFAULT;
	return q->limit > NYLAS_GRANTS_LIMIT_MAX ? NYLAS_GRANTS_LIMIT_MAX : q->limit;
}

char *
nylas_grants_url(const char *api_base, const struct nylas_grant_query *q,
    const char *page_token, int64_t offset)
{
	struct wbuf b = WBUF_INIT;
	char num[32];
	size_t n = strlen(api_base);

	while (n > 0 && api_base[n - 1] == '/')
		n--;
	wbuf_add(&b, api_base, n);
	wbuf_add_str(&b, "/v3/grants?");
	if (!empty(q->provider))
		query_param(&b, "provider", q->provider);
	if (!empty(q->grant_status))
		query_param(&b, "grant_status", q->grant_status);
	snprintf(num, sizeof(num), "%d", grants_limit(q));
	query_param(&b, "limit", num);
	if (page_token != NULL) {
		query_param(&b, "page_token", page_token);
	} else if (offset > 0) {
		snprintf(num, sizeof(num), "%lld", (long long)offset);
		query_param(&b, "offset", num);
	}
	return wbuf_to_str(&b);
}

/* --- the client --------------------------------------------------------- */

struct nylas_client *
nylas_client_new(struct http_client *hc, const char *api_base, const struct secret *api_key,
    const char *app)
{
	struct nylas_client *nc = xcalloc(1, sizeof(*nc));

	nc->hc = hc;
	nc->base = api_base_url(api_base);
	nc->api_key = secret_new(api_key->data, api_key->len);
	nc->app = app != NULL ? xstrdup(app) : NULL;
	TAILQ_INIT(&nc->calls);
	return nc;
}

struct nylas_client *
nylas_client_from_app(struct http_client *hc, const struct config_app *app, char **err)
{
	if (app->nylas_api_key == NULL || app->nylas_api_key->len == 0 ||
	    empty(app->nylas_api_base)) {
		*err = xasprintf("app %s: nylas_api_base and nylas_api_key_file are needed to call "
		    "Nylas", app->name);
		return NULL;
	}
	return nylas_client_new(hc, app->nylas_api_base, app->nylas_api_key, app->name);
}

static void
call_free(struct nylas_call *c)
{
	api_call_clear(&c->call);
	free(c->walk.provider);
	free(c->walk.grant_status);
	nylas_grants_free(c->walk.grants, c->walk.n);
	free(c);
}

void
nylas_client_free(struct nylas_client *nc)
{
	struct nylas_result res;
	struct nylas_call *c;

	if (nc == NULL)
		return;
	/* Detach and tell; the HTTP request still holding each call frees it later. */
	for (c = TAILQ_FIRST(&nc->calls); c != NULL; c = TAILQ_FIRST(&nc->calls)) {
		TAILQ_REMOVE(&nc->calls, c, entry);
		c->nc = NULL;
		memset(&res, 0, sizeof(res));
		res.outcome = NYLAS_CANCELLED;
		res.detail = "nylas client freed";
		res.retry_after_ms = -1;
		c->cb(&res, c->arg);
	}
	secret_free(nc->api_key);
	free(nc->base);
	free(nc->app);
	free(nc);
}

/* Takes c off its client's list, tells the caller, frees c; nc is not touched after cb. */
static void
call_finish(struct nylas_call *c, const struct nylas_result *res)
{
	TAILQ_REMOVE(&c->nc->calls, c, entry);
	c->nc = NULL;
	c->cb(res, c->arg);
	call_free(c);
}

static void answer_cb(const struct http_response *resp, void *arg);

static int
call_send(struct nylas_call *c)
{
	struct http_request req;

	api_call_request(&c->call, &req, "nylas", c->nc->app, NYLAS_API_MAX_RESPONSE);
	req.bearer = c->nc->api_key;
	return http_client_send(c->nc->hc, &req, answer_cb, c);
}

/* What a successful answer carried; the result points into it. */
struct payload {
	struct nylas_connector connector;
	struct nylas_webhook webhook;
	char *message_id;
};

static int
parse_payload(struct nylas_call *c, const struct http_response *resp, struct payload *p,
    struct nylas_result *res, char **err)
{
	switch (c->op) {
	case OP_GET_CONNECTOR:
		if (nylas_parse_connector(resp->body, resp->body_len, &p->connector, err) == -1)
			return -1;
		res->connector = &p->connector;
		return 0;
	case OP_PATCH_CONNECTOR:
		/* The update is done once Nylas said 2xx: an odd echo does not undo it. */
		if (nylas_parse_connector(resp->body, resp->body_len, &p->connector, err) == 0)
			res->connector = &p->connector;
		return 0;
	case OP_CREATE_WEBHOOK:
	case OP_ROTATE_SECRET:
		if (nylas_parse_webhook(resp->body, resp->body_len, &p->webhook, err) == -1)
			return -1;
		res->webhook = &p->webhook;
		if (p->webhook.webhook_secret == NULL) {
			*err = xstrdup("answer without webhook_secret");
			return -1;
		}
		return 0;
	case OP_SEND_MESSAGE:
		if (nylas_parse_message_id(resp->body, resp->body_len, &p->message_id, err) == -1)
			return -1;
		res->message_id = p->message_id;
		return 0;
	case OP_LIST_GRANTS:
		res->grants = c->walk.grants;
		res->n_grants = c->walk.n;
		res->grants_truncated = c->walk.truncated;
		return 0;
	default:
		/* A credential update's answer never echoes the data: nothing to read. */
		return 0;
	}
}

static void
base_result(struct nylas_result *res, const struct http_response *resp)
{
	const char *ra = http_response_header(resp, "Retry-After");

	memset(res, 0, sizeof(*res));
	res->status = resp->status;
	res->detail = resp->error;
	res->request_id = resp->service_request_id;
	res->retry_after_ms = ra != NULL ? http_parse_retry_after(ra, time(NULL)) : -1;
	res->outcome = nylas_outcome_of(resp->outcome, resp->status);
}

static void
finish_answer(struct nylas_call *c, const struct http_response *resp)
{
	struct nylas_result res;
	struct nylas_error e;
	struct payload p;
	char *err = NULL;

	memset(&p, 0, sizeof(p));
	memset(&e, 0, sizeof(e));
	base_result(&res, resp);
	if (resp->outcome != HTTP_OUTCOME_OK &&
	    nylas_parse_error(resp->body, resp->body_len, &e) == 0) {
		res.error = &e;
		if (e.request_id != NULL)
			res.request_id = e.request_id;
	}
	if (res.outcome == NYLAS_OK && c->op == OP_GET_JSON) {
		res.body = resp->body;
		res.body_len = resp->body_len;
	}
	if (res.outcome == NYLAS_OK && parse_payload(c, resp, &p, &res, &err) == -1) {
		res.outcome = NYLAS_PERMANENT;
		res.detail = err;
	}
	call_finish(c, &res);
	nylas_error_clear(&e);
	nylas_connector_clear(&p.connector);
	nylas_webhook_clear(&p.webhook);
	free(p.message_id);
	free(err);
}

/* Moves a page's grants to the end of the walk's list. */
static void
walk_take(struct grants_walk *w, struct nylas_grants_page *page)
{
	size_t room = NYLAS_GRANTS_MAX - w->n, take = page->n < room ? page->n : room;

	if (take < page->n)
		w->truncated = 1;
	w->grants = xrealloc(w->grants, (w->n + take + 1) * sizeof(*w->grants));
	memcpy(w->grants + w->n, page->grants, take * sizeof(*w->grants));
	w->n += take;
	/* What did not fit is freed with the page; what was taken is not freed twice. */
	memmove(page->grants, page->grants + take, (page->n - take) * sizeof(*page->grants));
	page->n -= take;
}

int
nylas_grants_next_page(const struct nylas_grants_page *page, int limit, int64_t *offset,
    const char **page_token)
{
	*page_token = NULL;
	if (page->next_cursor != NULL) {
		*page_token = page->next_cursor;
		return 1;
	}
	/* No cursor: a full page means the limit/offset style has more. */
	if (limit <= 0 || page->n < (size_t)limit)
		return 0;
	*offset += limit;
	return 1;
}

/* The URL of the page after page (not yet taken in), or NULL when complete or bounded. */
static char *
walk_next_url(struct nylas_call *c, const struct nylas_grants_page *page)
{
	struct grants_walk *w = &c->walk;
	struct nylas_grant_query q = { w->provider, w->grant_status, w->limit, 0 };
	const char *token;

	if (!nylas_grants_next_page(page, w->limit, &w->offset, &token))
		return NULL;
	if (w->pages >= w->max_pages || w->n + page->n >= NYLAS_GRANTS_MAX) {
		w->truncated = 1;
		return NULL;
	}
	return nylas_grants_url(c->nc->base, &q, token, token != NULL ? 0 : w->offset);
}

/* 1 when the next page was requested, 0 when the listing is complete, -1 and *err. */
static int
grants_page(struct nylas_call *c, const struct http_response *resp, char **err)
{
	struct nylas_grants_page page;
	char *next;

	if (nylas_parse_grants_page(resp->body, resp->body_len, &page, err) == -1)
		return -1;
	c->walk.pages++;
	next = walk_next_url(c, &page);
	walk_take(&c->walk, &page);
	nylas_grants_page_clear(&page);
	if (next == NULL)
		return 0;
	free(c->call.url);
	c->call.url = next;
	if (call_send(c) == -1) {
		*err = xstrdup("next page not requested");
		return -1;
	}
	return 1;
}

static void
finish_grants(struct nylas_call *c, const struct http_response *resp)
{
	struct nylas_result res;
	char *err = NULL;
	int rc = grants_page(c, resp, &err);

	if (rc == 1)
		return;
	base_result(&res, resp);
	if (rc == -1) {
		res.outcome = NYLAS_PERMANENT;
		res.detail = err;
	} else {
		res.grants = c->walk.grants;
		res.n_grants = c->walk.n;
		res.grants_truncated = c->walk.truncated;
	}
	call_finish(c, &res);
	free(err);
}

static void
answer_cb(const struct http_response *resp, void *arg)
{
	struct nylas_call *c = arg;

	if (c->nc == NULL) {
		call_free(c);
		return;
	}
	if (c->op == OP_LIST_GRANTS && resp->outcome == HTTP_OUTCOME_OK)
		finish_grants(c, resp);
	else
		finish_answer(c, resp);
}

static struct nylas_call *
call_new(enum nylas_op op, const char *method, char *url, struct secret *body, nylas_cb cb,
    void *arg)
{
	struct nylas_call *c = xcalloc(1, sizeof(*c));

	c->op = op;
	api_call_init(&c->call, method, url, body);
	c->cb = cb;
	c->arg = arg;
	return c;
}

static int
call_submit(struct nylas_client *nc, struct nylas_call *c)
{
	c->nc = nc;
	TAILQ_INSERT_TAIL(&nc->calls, c, entry);
	if (call_send(c) == 0)
		return 0;
	TAILQ_REMOVE(&nc->calls, c, entry);
	api_call_not_sent(&c->call, "nylas", nc->app);
	call_free(c);
	return -1;
}

static int
bad_arg(struct nylas_client *nc, const char *what)
{
	log_ctx(LOG_LEVEL_ERROR, NULL, nc->app, "nylas: %s", what);
	return -1;
}

/* base + path, with one segment percent-encoded when seg is not NULL. */
static char *
api_url(const struct nylas_client *nc, const char *path, const char *seg, const char *tail)
{
	struct wbuf b = WBUF_INIT;

	wbuf_add_str(&b, nc->base);
	wbuf_add_str(&b, path);
	if (seg != NULL)
		wbuf_add_escaped(&b, seg, strlen(seg));
	if (tail != NULL)
		wbuf_add_str(&b, tail);
	return wbuf_to_str(&b);
}

int
nylas_get_connector(struct nylas_client *nc, nylas_cb cb, void *arg)
{
	return call_submit(nc, call_new(OP_GET_CONNECTOR, "GET",
	    api_url(nc, "/v3/connectors/microsoft", NULL, NULL), NULL, cb, arg));
}

int
nylas_patch_connector(struct nylas_client *nc, const char *client_id,
    const struct secret *client_secret, const char *tenant, const char *const *scope,
    size_t n_scope, nylas_cb cb, void *arg)
{
	struct secret *body;

	if (n_scope > NYLAS_SCOPES_MAX)
		return bad_arg(nc, "too many scopes");
	body = nylas_connector_body(client_id, client_secret, tenant, scope, n_scope);
	if (body == NULL)
		return bad_arg(nc, "connector settings need client_id and client_secret");
	return call_submit(nc, call_new(OP_PATCH_CONNECTOR, "PATCH",
	    api_url(nc, "/v3/connectors/microsoft", NULL, NULL), body, cb, arg));
}

int
nylas_patch_credential(struct nylas_client *nc, const char *credential_id,
    const char *client_id, const struct secret *client_secret, const char *tenant,
    nylas_cb cb, void *arg)
{
	struct secret *body;

	if (empty(credential_id))
		return bad_arg(nc, "credential id is empty");
	body = nylas_credential_body(client_id, client_secret, tenant);
	if (body == NULL)
		return bad_arg(nc, "credential_data needs client_id and client_secret");
	return call_submit(nc, call_new(OP_PATCH_CREDENTIAL, "PATCH",
	    api_url(nc, "/v3/connectors/microsoft/creds/", credential_id, NULL), body, cb,
	    arg));
}

int
nylas_list_grants(struct nylas_client *nc, const struct nylas_grant_query *q, nylas_cb cb,
    void *arg)
{
	struct nylas_call *c;

	c = call_new(OP_LIST_GRANTS, "GET", nylas_grants_url(nc->base, q, NULL, 0), NULL, cb,
	    arg);
	c->walk.provider = empty(q->provider) ? NULL : xstrdup(q->provider);
	c->walk.grant_status = empty(q->grant_status) ? NULL : xstrdup(q->grant_status);
	c->walk.limit = grants_limit(q);
	c->walk.max_pages = q->max_pages > 0 && q->max_pages < NYLAS_GRANTS_PAGES_MAX ?
	    q->max_pages : NYLAS_GRANTS_PAGES_MAX;
	return call_submit(nc, c);
}

struct secret *
nylas_webhook_body(const struct nylas_webhook_spec *spec)
{
	struct wbuf b = WBUF_INIT;

	wbuf_add_str(&b, "{");
	json_key(&b, "trigger_types");
	json_str_array(&b, spec->trigger_types, spec->n_trigger_types);
	wbuf_add_str(&b, ",");
	json_key(&b, "webhook_url");
	json_str(&b, spec->webhook_url);
	if (!empty(spec->description)) {
		wbuf_add_str(&b, ",");
		json_key(&b, "description");
		json_str(&b, spec->description);
	}
	if (spec->n_notification_emails > 0) {
		wbuf_add_str(&b, ",");
		json_key(&b, "notification_email_addresses");
		json_str_array(&b, spec->notification_emails, spec->n_notification_emails);
	}
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

int
nylas_create_webhook(struct nylas_client *nc, const struct nylas_webhook_spec *spec,
    nylas_cb cb, void *arg)
{
	struct nylas_call *c;

	if (empty(spec->webhook_url) || spec->n_trigger_types == 0)
		return bad_arg(nc, "a webhook needs a URL and trigger types");
	c = call_new(OP_CREATE_WEBHOOK, "POST", api_url(nc, "/v3/webhooks", NULL, NULL),
	    nylas_webhook_body(spec), cb, arg);
	c->call.max_attempts = 1;
	return call_submit(nc, c);
}

int
nylas_rotate_webhook_secret(struct nylas_client *nc, const char *webhook_id, nylas_cb cb,
    void *arg)
{
	if (empty(webhook_id))
		return bad_arg(nc, "webhook id is empty");
	/* Retried as usual: the answer that finally arrives holds the secret now in force. */
	return call_submit(nc, call_new(OP_ROTATE_SECRET, "POST",
	    api_url(nc, "/v3/webhooks/rotate-secret/", webhook_id, NULL), NULL, cb, arg));
}

struct secret *
nylas_webhook_update_body(const char *const *trigger_types, size_t n_trigger_types,
    const char *status)
{
	struct wbuf b = WBUF_INIT;

	wbuf_add_str(&b, "{");
	json_key(&b, "trigger_types");
	json_str_array(&b, trigger_types, n_trigger_types);
	if (!empty(status)) {
		wbuf_add_str(&b, ",");
		json_key(&b, "status");
		json_str(&b, status);
	}
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

int
nylas_update_webhook(struct nylas_client *nc, const char *webhook_id,
    const char *const *trigger_types, size_t n_trigger_types, const char *status, nylas_cb cb,
    void *arg)
{
	if (empty(webhook_id) || n_trigger_types == 0)
		return bad_arg(nc, "a webhook update needs an id and trigger types");
	/* PUT, as nylas-nodejs's Webhooks.update (_update) sends it. */
	return call_submit(nc, call_new(OP_UPDATE_WEBHOOK, "PUT",
	    api_url(nc, "/v3/webhooks/", webhook_id, NULL),
	    nylas_webhook_update_body(trigger_types, n_trigger_types, status), cb, arg));
}

struct secret *
nylas_message_body(const struct nylas_message *msg)
{
	struct wbuf b = WBUF_INIT;
	size_t i;

	wbuf_add_str(&b, "{\"to\":[");
	for (i = 0; i < msg->n_to; i++) {
		wbuf_add_str(&b, i > 0 ? ",{" : "{");
		json_key(&b, "email");
		json_str(&b, msg->to[i]);
		wbuf_add_str(&b, "}");
	}
	wbuf_add_str(&b, "],");
	json_key(&b, "subject");
	json_str(&b, msg->subject);
	wbuf_add_str(&b, ",");
	json_key(&b, "body");
	json_str(&b, msg->body);
	wbuf_add_str(&b, "}");
	return wbuf_to_secret(&b);
}

int
nylas_send_message(struct nylas_client *nc, const char *grant_id,
    const struct nylas_message *msg, const char *idempotency_key, nylas_cb cb, void *arg)
{
	struct nylas_call *c;

	if (empty(grant_id) || empty(idempotency_key) || msg->n_to == 0 ||
	    msg->subject == NULL || msg->body == NULL)
		return bad_arg(nc, "a message needs a grant, recipients, subject, body and "
		    "an idempotency key");
	if (strpbrk(idempotency_key, "\r\n") != NULL)
		return bad_arg(nc, "idempotency key has a line break");
	c = call_new(OP_SEND_MESSAGE, "POST",
	    api_url(nc, "/v3/grants/", grant_id, "/messages/send"), nylas_message_body(msg), cb,
	    arg);
	c->call.header = xasprintf("Idempotency-Key: %s", idempotency_key);
	return call_submit(nc, c);
}

int
nylas_get_json(struct nylas_client *nc, const char *path, nylas_cb cb, void *arg)
{
	if (empty(path) || path[0] != '/')
		return bad_arg(nc, "an empty or relative path");
	return call_submit(nc, call_new(OP_GET_JSON, "GET", api_url(nc, path, NULL, NULL), NULL,
	    cb, arg));
}
