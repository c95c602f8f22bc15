#include "outbound/identity.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/http_client.h"
#include "proto/jwt.h"
#include "state/config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#define IDENTITY_JSON_DEPTH_MAX 16
/* A single AADSTS code has at most this many digits (7000222 has 7). */
#define AADSTS_DIGITS_MAX 9
/*
 * Longer than any token Microsoft issues (3599 s usually, up to about a day
 * with continuous access evaluation), shorter than anything absurd.
 */
#define IDENTITY_EXPIRES_MAX (7 * 86400)

static const char assertion_type[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct waiter {
	TAILQ_ENTRY(waiter) entry;
	identity_cb cb;
	void *arg;
};
TAILQ_HEAD(waiter_list, waiter);

/* One token request; id is NULL once the identity is gone (the answer is then dropped). */
struct token_req {
	struct identity *id;
};

struct identity {
	struct http_client *hc;
	char *app;
	char *client_id;
	char *token_url;
	char *scope;			/* the Graph's "{origin}/.default" */
	struct jwt_signer *signer;	/* a certificate identity, or */
	enum jwt_alg alg;
	struct secret *client_secret;	/* a secret identity */

	struct secret *token;		/* cached, or NULL */
	int64_t token_until;		/* Unix seconds after which it is not used */
	uint64_t gen;			/* bumped whenever token changes */

	struct token_req *in_flight;
	struct waiter_list waiters;
	int dispatching;		/* callbacks on the stack */
	int free_pending;		/* identity_free was called */
};

/* One probe; owns nothing but the caller's callback. */
struct probe_req {
	identity_cb cb;
	void *arg;
};

static const struct {
	int64_t code;
	enum identity_err kind;
	const char *name;
} aadsts_table[] = {
	{ 0, IDENTITY_ERR_NONE, "none" },
	{ 7000222, IDENTITY_ERR_SECRET_EXPIRED, "secret_expired" },
	{ 7000215, IDENTITY_ERR_SECRET_INVALID, "secret_invalid" },
	{ 7000218, IDENTITY_ERR_NO_CREDENTIAL, "no_credential" },
	{ 700027, IDENTITY_ERR_BAD_ASSERTION_SIGNATURE, "bad_assertion_signature" },
	{ 700024, IDENTITY_ERR_ASSERTION_TIME, "assertion_time" },
	{ 700016, IDENTITY_ERR_APP_NOT_IN_TENANT, "app_not_in_tenant" },
	{ 90002, IDENTITY_ERR_TENANT_NOT_FOUND, "tenant_not_found" },
	{ 7000112, IDENTITY_ERR_APP_DISABLED, "app_disabled" },
	{ -1, IDENTITY_ERR_OTHER, "other" },
};

#define AADSTS_TABLE_LEN (sizeof(aadsts_table) / sizeof(aadsts_table[0]))

enum identity_err
identity_err_from_code(int64_t code)
{
	size_t i;

	if (code <= 0)
		return IDENTITY_ERR_OTHER;
	for (i = 1; i < AADSTS_TABLE_LEN; i++)
		if (aadsts_table[i].code == code)
			return aadsts_table[i].kind;
	return IDENTITY_ERR_OTHER;
}

const char *
identity_err_name(enum identity_err kind)
{
	size_t i;

	for (i = 0; i < AADSTS_TABLE_LEN; i++)
		if (aadsts_table[i].kind == kind)
			return aadsts_table[i].name;
	return "other";
}

/* --- pure helpers ------------------------------------------------------- */

static int
empty(const char *s)
{
	return s == NULL || *s == '\0';
}

char *
identity_token_url(const char *login_base, const char *tenant)
{
	struct wbuf b = WBUF_INIT;
	size_t n = strlen(login_base);

	while (n > 0 && login_base[n - 1] == '/')
		n--;
	wbuf_add(&b, login_base, n);
	wbuf_add_str(&b, "/");
	wbuf_add_escaped(&b, tenant, strlen(tenant));
	wbuf_add_str(&b, "/oauth2/v2.0/token");
	return wbuf_to_str(&b);
}

/*
 * Microsoft's national clouds each have their own Graph host
 * (graph.microsoft.us, dod-graph.microsoft.us, microsoftgraph.chinacloudapi.cn)
 * and their token endpoints know only their own Graph as a resource: the
 * global scope there is refused (AADSTS500011, the resource principal not
 * found in the tenant).  So the scope follows graph_base rather than being
 * the global one.
 */
char *
identity_graph_scope(const char *graph_base)
{
	const char *sep, *host, *end;
	size_t scheme_len, host_len, i;
	char *scope;

	if (graph_base == NULL || strlen(graph_base) > IDENTITY_SCOPE_BASE_MAX)
		return NULL;
	sep = strstr(graph_base, "://");
	if (sep == NULL || sep == graph_base)
		return NULL;
	scheme_len = (size_t)(sep - graph_base);
	host = sep + 3;
	end = host + strcspn(host, "/?#");
	host_len = (size_t)(end - host);
	if (host_len == 0 || memchr(host, '@', host_len) != NULL)
		return NULL;
	/* The default port names the same origin: "https://graph.microsoft.us:443" is that host. */
	if (scheme_len == 5 && strncasecmp(graph_base, "https", 5) == 0 && host_len > 4 &&
	    strncmp(end - 4, ":443", 4) == 0)
		host_len -= 4;
	else if (scheme_len == 4 && strncasecmp(graph_base, "http", 4) == 0 && host_len > 3 &&
	    strncmp(end - 3, ":80", 3) == 0)
		host_len -= 3;
	scope = xasprintf("%.*s://%.*s/.default", (int)scheme_len, graph_base, (int)host_len, host);
	/* Scheme and host are case-insensitive (RFC 3986): lower case, as the docs write them. */
	for (i = 0; i < scheme_len + 3 + host_len; i++)
		scope[i] = (char)tolower((unsigned char)scope[i]);
	return scope;
}

static void
form_field(struct wbuf *b, const char *name, const void *value, size_t len)
{
	if (b->len > 0)
		wbuf_add_str(b, "&");
	wbuf_add_str(b, name);
	wbuf_add_str(b, "=");
	wbuf_add_escaped(b, value, len);
}

struct secret *
identity_token_body(const char *client_id, const char *scope, const struct secret *assertion,
    const struct secret *client_secret)
{
	struct wbuf b = WBUF_INIT;

	form_field(&b, "client_id", client_id, strlen(client_id));
	form_field(&b, "scope", scope, strlen(scope));
	form_field(&b, "grant_type", "client_credentials", strlen("client_credentials"));
	if (assertion != NULL) {
		form_field(&b, "client_assertion_type", assertion_type, strlen(assertion_type));
		form_field(&b, "client_assertion", assertion->data, assertion->len);
	} else if (client_secret != NULL) {
		form_field(&b, "client_secret", client_secret->data, client_secret->len);
	}
	return wbuf_to_secret(&b);
}

/* Parses a JSON object of at most max bytes; NULL when it is not one. */
static cJSON *
parse_object(const char *body, size_t len)
{
	cJSON *root;

	if (body == NULL || len == 0 || len > IDENTITY_MAX_RESPONSE ||
	    !json_depth_ok(body, len, IDENTITY_JSON_DEPTH_MAX))
		return NULL;
	root = json_parse_whole(body, len);
	if (root != NULL && !cJSON_IsObject(root)) {
		cJSON_Delete(root);
		root = NULL;
	}
	return root;
}

/* A copy of a string member cut at its first line break and at max bytes; NULL when absent. */
static char *
dup_line(const cJSON *obj, const char *name, size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	size_t n;

	if (!cJSON_IsString(v) || v->valuestring == NULL)
		return NULL;
	n = strcspn(v->valuestring, "\r\n");
	return xstrndup(v->valuestring, n < max ? n : max);
}

/* The first element of error_codes when it is a positive integer, else 0. */
static int64_t
first_error_code(const cJSON *codes)
{
	const cJSON *first = cJSON_IsArray(codes) ? codes->child : NULL;

	if (!cJSON_IsNumber(first) || first->valuedouble < 1 || first->valuedouble > 1e15 ||
	    first->valuedouble != (double)(int64_t)first->valuedouble)
		return 0;
	return (int64_t)first->valuedouble;
}

/* The nnn of a description that starts "AADSTSnnn:", else 0. */
static int64_t
description_code(const char *desc)
{
	int64_t code = 0;
	size_t i;

	if (desc == NULL || strncmp(desc, "AADSTS", 6) != 0)
		return 0;
	for (i = 6; desc[i] >= '0' && desc[i] <= '9'; i++) {
		if (i - 6 >= AADSTS_DIGITS_MAX)
			return 0;
		code = code * 10 + (desc[i] - '0');
	}
	return i > 6 && desc[i] == ':' ? code : 0;
}

int
identity_parse_error(const char *body, size_t len, struct identity_error *out)
{
	cJSON *root = parse_object(body, len);
	const cJSON *codes;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -1;
	codes = cJSON_GetObjectItemCaseSensitive(root, "error_codes");
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "error")) && codes == NULL) {
		cJSON_Delete(root);
		return -1;
	}
	out->error = dup_line(root, "error", IDENTITY_FIELD_MAX);
	out->description = dup_line(root, "error_description", IDENTITY_DESCRIPTION_MAX);
	out->trace_id = dup_line(root, "trace_id", IDENTITY_FIELD_MAX);
	out->correlation_id = dup_line(root, "correlation_id", IDENTITY_FIELD_MAX);
	out->timestamp = dup_line(root, "timestamp", IDENTITY_FIELD_MAX);
	/* The text is for people; only when the codes are missing is it read at all. */
	if (codes == NULL || cJSON_IsNull(codes))
		out->code = description_code(out->description);
	else
		out->code = first_error_code(codes);
	out->kind = identity_err_from_code(out->code);
	cJSON_Delete(root);
	return 0;
}

void
identity_error_clear(struct identity_error *e)
{
	free(e->error);
	free(e->description);
	free(e->trace_id);
	free(e->correlation_id);
	free(e->timestamp);
	memset(e, 0, sizeof(*e));
}

/* expires_in as a number (v2.0) or a numeric string (v1.0); 0 when absent, -1 when wrong. */
static int64_t
parse_expires_in(const cJSON *v)
{
	int64_t n;

	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsString(v) && v->valuestring != NULL &&
	    util_parse_int64(v->valuestring, 0, IDENTITY_EXPIRES_MAX, &n) == 0)
		return n;
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= IDENTITY_EXPIRES_MAX)
		return (int64_t)v->valuedouble;
	return -1;
}

/* Wipes the access token inside the parsed tree before it is freed. */
static void
scrub_string(cJSON *obj, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	if (cJSON_IsString(v) && v->valuestring != NULL)
		OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
}

static int
check_token_fields(const cJSON *root, char **err)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(root, "token_type");
	const cJSON *tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");

	if (type != NULL && (!cJSON_IsString(type) || strcasecmp(type->valuestring, "Bearer") != 0)) {
		*err = xstrdup("token_type is not Bearer");
		return -1;
	}
	if (!cJSON_IsString(tok) || tok->valuestring == NULL || tok->valuestring[0] == '\0' ||
	    strlen(tok->valuestring) > IDENTITY_MAX_TOKEN) {
		*err = xstrdup("access_token is missing, empty or too long");
		return -1;
	}
	return 0;
}

int
identity_parse_token(const char *body, size_t len, struct secret **token,
    int64_t *expires_in, char **err)
{
	cJSON *root = parse_object(body, len);
	const cJSON *tok;
	int rc = -1;

	*token = NULL;
	*expires_in = 0;
	if (root == NULL) {
		*err = xstrdup("token answer is not a JSON object");
		return -1;
	}
	if (check_token_fields(root, err) == -1)
		goto out;
	*expires_in = parse_expires_in(cJSON_GetObjectItemCaseSensitive(root, "expires_in"));
	if (*expires_in < 0) {
		*expires_in = 0;
		*err = xstrdup("expires_in is not a number of seconds");
		goto out;
	}
	tok = cJSON_GetObjectItemCaseSensitive(root, "access_token");
	*token = secret_new(tok->valuestring, strlen(tok->valuestring));
	rc = 0;
out:
	scrub_string(root, "access_token");
	cJSON_Delete(root);
	return rc;
}

/* --- one token request -------------------------------------------------- */

/* Fills res from an answer; *token and *aad hold what res points to (caller frees). */
static void
read_answer(const struct http_response *resp, struct identity_result *res,
    struct identity_error *aad, struct secret **token, char **detail)
{
	memset(res, 0, sizeof(*res));
	res->http_status = resp->status;
	res->detail = resp->error;
	if (resp->outcome == HTTP_OUTCOME_CANCELLED) {
		res->status = IDENTITY_CANCELLED;
		return;
	}
	if (resp->outcome == HTTP_OUTCOME_OK) {
		if (identity_parse_token(resp->body, resp->body_len, token, &res->expires_in,
		    detail) == 0) {
			res->status = IDENTITY_OK;
			res->access_token = *token;
		} else {
			res->status = IDENTITY_FAILED;
			res->detail = *detail;
		}
		return;
	}
	if (identity_parse_error(resp->body, resp->body_len, aad) == 0)
		res->aad = aad;
	if (resp->outcome == HTTP_OUTCOME_RETRYABLE)
		res->status = IDENTITY_RETRYABLE;
	else
		res->status = res->aad != NULL ? IDENTITY_REJECTED : IDENTITY_FAILED;
}

static int
send_token_request(struct http_client *hc, const char *url, const struct secret *body,
    const char *app, http_done_cb cb, void *arg)
{
	struct http_request req;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/x-www-form-urlencoded";
	req.body = body->data;
	req.body_len = body->len;
	req.service = "identity";
	req.app = app;
	req.max_response = IDENTITY_MAX_RESPONSE;
	return http_client_send(hc, &req, cb, arg);
}

/* --- cached identities -------------------------------------------------- */

static struct identity *
identity_alloc(struct http_client *hc, const char *login_base, const char *tenant,
    const char *client_id, const char *scope, const char *app)
{
	struct identity *id = xcalloc(1, sizeof(*id));

	id->hc = hc;
	id->app = app != NULL ? xstrdup(app) : NULL;
	id->client_id = xstrdup(client_id);
	id->scope = xstrdup(scope);
	id->token_url = identity_token_url(login_base, tenant);
	TAILQ_INIT(&id->waiters);
	return id;
}

struct identity *
identity_new_cert(struct http_client *hc, const char *login_base, const char *tenant,
    const char *client_id, const char *scope, struct jwt_signer *signer, enum jwt_alg alg,
    const char *app)
{
	struct identity *id = identity_alloc(hc, login_base, tenant, client_id, scope, app);

	id->signer = signer;
	id->alg = alg;
	return id;
}

struct identity *
identity_new_secret(struct http_client *hc, const char *login_base, const char *tenant,
    const char *client_id, const char *scope, const struct secret *client_secret,
    const char *app)
{
	struct identity *id = identity_alloc(hc, login_base, tenant, client_id, scope, app);

	id->client_secret = secret_new(client_secret->data, client_secret->len);
	return id;
}

struct identity *
identity_rotator_new(struct http_client *hc, const struct config_app *app, char **err)
{
	struct jwt_signer *signer;
	struct identity *id;
	char *scope;

	if (empty(app->azure_tenant_id) || empty(app->rotator_client_id) ||
	    empty(app->rotator_cert_file) || empty(app->rotator_key_file) ||
	    empty(app->azure_login_base)) {
		*err = xasprintf("app %s: azure_tenant_id, rotator_client_id, rotator_cert_file "
		    "and rotator_key_file are all needed to sign in to Graph", app->name);
		return NULL;
	}
	scope = identity_graph_scope(app->graph_base);
	if (scope == NULL) {
		*err = xasprintf("app %s: graph_base has no https://host to derive the token scope "
		    "from", app->name);
		return NULL;
	}
	signer = jwt_signer_new(app->rotator_cert_file, app->rotator_key_file, err);
	id = signer == NULL ? NULL : identity_new_cert(hc, app->azure_login_base,
	    app->azure_tenant_id, app->rotator_client_id, scope, signer, JWT_ALG_PS256, app->name);
	free(scope);
	return id;
}

/* Runs every waiter queued so far with res; new waiters queued meanwhile wait for the next answer. */
static void
dispatch(struct identity *id, const struct identity_result *res)
{
	struct waiter_list list;
	struct waiter *w;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &id->waiters, entry);
	id->dispatching++;
	for (w = TAILQ_FIRST(&list); w != NULL; w = TAILQ_FIRST(&list)) {
		TAILQ_REMOVE(&list, w, entry);
		w->cb(res, w->arg);
		free(w);
	}
	id->dispatching--;
}

static void
destroy(struct identity *id)
{
	struct identity_result res;

	if (id->in_flight != NULL)
		id->in_flight->id = NULL;
	id->in_flight = NULL;
	memset(&res, 0, sizeof(res));
	res.status = IDENTITY_CANCELLED;
	res.detail = "identity freed";
	dispatch(id, &res);
	secret_free(id->token);
	secret_free(id->client_secret);
	jwt_signer_free(id->signer);
	free(id->token_url);
	free(id->scope);
	free(id->client_id);
	free(id->app);
	free(id);
}

void
identity_free(struct identity *id)
{
	if (id == NULL || id->free_pending)
		return;
	id->free_pending = 1;
	if (id->dispatching == 0)
		destroy(id);
}

const char *
identity_token_endpoint(const struct identity *id)
{
	return id->token_url;
}

const struct secret *
identity_cached_token(struct identity *id, uint64_t *gen)
{
	if (id->token == NULL || util_now_ms() / 1000 >= id->token_until)
		return NULL;
	*gen = id->gen;
	return id->token;
}

void
identity_invalidate(struct identity *id, uint64_t gen)
{
	if (id->token == NULL || id->gen != gen)
		return;
	secret_free(id->token);
	id->token = NULL;
	id->gen++;
}

static void
cache_token(struct identity *id, const struct secret *token, int64_t expires_in)
{
	secret_free(id->token);
	id->token = NULL;
	id->gen++;
	/* A token that would be due for refresh at once is used once and not kept. */
	if (expires_in <= IDENTITY_REFRESH_MARGIN)
		return;
	id->token = secret_new(token->data, token->len);
	id->token_until = util_now_ms() / 1000 + expires_in - IDENTITY_REFRESH_MARGIN;
}

static void
log_failure(const struct identity *id, const struct identity_result *res)
{
	if (res->status == IDENTITY_CANCELLED)
		return;
	if (res->aad != NULL)
		log_ctx(LOG_LEVEL_WARN, NULL, id->app,
		    "token for client %s refused: AADSTS%lld (%s) %s, trace_id %s, "
		    "correlation_id %s", id->client_id, (long long)res->aad->code,
		    identity_err_name(res->aad->kind), res->aad->error ? res->aad->error : "-",
		    res->aad->trace_id ? res->aad->trace_id : "-",
		    res->aad->correlation_id ? res->aad->correlation_id : "-");
	else
		log_ctx(LOG_LEVEL_WARN, NULL, id->app, "token for client %s failed: %s",
		    id->client_id, res->detail ? res->detail : "no detail");
}

static void
token_done_cb(const struct http_response *resp, void *arg)
{
	struct token_req *req = arg;
	struct identity *id = req->id;
	struct identity_result res;
	struct identity_error aad;
	struct secret *token = NULL;
	char *detail = NULL;

	free(req);
	if (id == NULL)
		return;
	id->in_flight = NULL;
	memset(&aad, 0, sizeof(aad));
	read_answer(resp, &res, &aad, &token, &detail);
	if (res.status == IDENTITY_OK) {
		cache_token(id, token, res.expires_in);
		res.token_gen = id->gen;
	} else {
		log_failure(id, &res);
	}
	dispatch(id, &res);
	if (id->free_pending && id->dispatching == 0)
		destroy(id);
	secret_free(token);
	identity_error_clear(&aad);
	free(detail);
}

/* The body of the next request: a fresh assertion each time, or the secret. */
static struct secret *
request_body(struct identity *id, char **err)
{
	struct secret *assertion, *body;

	if (id->signer == NULL)
		return identity_token_body(id->client_id, id->scope, NULL, id->client_secret);
	assertion = jwt_client_assertion(id->signer, id->alg, id->client_id, id->token_url,
	    util_now_ms() / 1000, err);
	if (assertion == NULL)
		return NULL;
	body = identity_token_body(id->client_id, id->scope, assertion, NULL);
	secret_free(assertion);
	return body;
}

static int
start_request(struct identity *id)
{
	struct token_req *req;
	struct secret *body;
	char *err = NULL;
	int rc;

	body = request_body(id, &err);
	if (body == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, id->app, "token for client %s: %s", id->client_id,
		    err);
		free(err);
		return -1;
	}
	req = xcalloc(1, sizeof(*req));
	req->id = id;
	rc = send_token_request(id->hc, id->token_url, body, id->app, token_done_cb, req);
	secret_free(body);
	if (rc == -1) {
		free(req);
		return -1;
	}
	id->in_flight = req;
	return 0;
}

int
identity_get_token(struct identity *id, identity_cb cb, void *arg)
{
	struct waiter *w;

	if (id->free_pending)
		return -1;
	if (id->in_flight == NULL && start_request(id) == -1)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&id->waiters, w, entry);
	return 0;
}

/* --- probes ------------------------------------------------------------- */

static void
probe_done_cb(const struct http_response *resp, void *arg)
{
	struct probe_req *probe = arg;
	struct identity_result res;
	struct identity_error aad;
	struct secret *token = NULL;
	char *detail = NULL;

	memset(&aad, 0, sizeof(aad));
	read_answer(resp, &res, &aad, &token, &detail);
	/* A probe proves the secret works; the token it bought is not handed out. */
	res.access_token = NULL;
	secret_free(token);
	probe->cb(&res, probe->arg);
	identity_error_clear(&aad);
	free(detail);
	free(probe);
}

int
identity_probe_secret(struct http_client *hc, const struct config_app *app,
    const struct secret *client_secret, identity_cb cb, void *arg)
{
	struct probe_req *probe;
	struct secret *body;
	char *url, *scope;
	int rc;

	if (client_secret == NULL || client_secret->len == 0 || empty(app->azure_client_id) ||
	    empty(app->azure_tenant_id) || empty(app->azure_login_base)) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "secret probe: no secret, client id, tenant "
		    "or login base to probe with");
		return -1;
	}
	/* The rotator's rule: a secret that works for another cloud's Graph does not count. */
	scope = identity_graph_scope(app->graph_base);
	if (scope == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "secret probe: graph_base has no "
		    "https://host to derive the token scope from");
		return -1;
	}
	url = identity_token_url(app->azure_login_base, app->azure_tenant_id);
	body = identity_token_body(app->azure_client_id, scope, NULL, client_secret);
	free(scope);
	probe = xcalloc(1, sizeof(*probe));
	probe->cb = cb;
	probe->arg = arg;
	rc = send_token_request(hc, url, body, NULL, probe_done_cb, probe);
	secret_free(body);
	free(url);
	if (rc == -1)
		free(probe);
	return rc;
}
