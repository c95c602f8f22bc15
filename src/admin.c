#include "admin.h"
#include "alerts.h"
#include "config.h"
#include "correlate.h"
#include "crypto.h"
#include "json.h"
#include "listener.h"
#include "log.h"
#include "rotation.h"
#include "runtime.h"
#include "status.h"
#include "store.h"
#include "util.h"
#include "webhook_manager.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

/* A rotate request's body is at most {"dry_run":true} with some room. */
#define ADMIN_MAX_BODY 4096
#define ADMIN_JSON_DEPTH_MAX 4

/* Answers with the JSON document (deleted here). */
static void
reply_json(struct http_req *hr, int status, cJSON *doc)
{
	char *text = cJSON_PrintUnformatted(doc);

	if (text == NULL)
		fatal("out of memory rendering JSON");
	cJSON_Delete(doc);
	http_reply(hr, status, "application/json", text, strlen(text));
	free(text);
}

static void
reply_error(struct http_req *hr, int status, const char *msg)
{
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "error", msg);
	reply_json(hr, status, doc);
}

static void
reply_method(struct http_req *hr, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Allow", allow);
	reply_error(hr, 405, "method not allowed");
}

/* 1 when the request carries the admin token, else 0. */
static int
authorized(struct http_req *hr)
{
	static int warned_off;
	const struct secret *want = hr->rt->cfg->admin_token;
	const char *h = http_header(hr, "Authorization");
	unsigned char a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];

	if (want == NULL || want->len == 0) {
		if (!warned_off)
			log_warn("admin API: no admin_token_file configured: every request is refused");
		warned_off = 1;
		return 0;
	}
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	h += strspn(h, " ");
	/* Digests have one length, so neither the length nor a prefix leaks through timing. */
	if (crypto_sha256(want->data, want->len, a) == -1 || crypto_sha256(h, strlen(h), b) == -1)
		return 0;
	return crypto_memeq(a, b, sizeof(a));
}

static void
handle_status(struct http_req *hr)
{
	cJSON *doc = status_build(hr->rt->store, hr->rt->cfg);

	if (doc == NULL) {
		reply_error(hr, 503, "cannot read the store");
		return;
	}
	reply_json(hr, 200, doc);
}

/* The optional {"dry_run":bool} body; 0 and *dry_run, or -1 and *err (caller frees). */
static int
parse_rotate_body(struct http_req *hr, int *dry_run, char **err)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(hr->req);
	size_t len = evbuffer_get_length(in);
	const char *raw;
	const cJSON *v;
	cJSON *root;

	*dry_run = 0;
	if (len == 0)
		return 0;
	raw = (const char *)evbuffer_pullup(in, -1);
	root = json_parse_object(raw, len, ADMIN_MAX_BODY, ADMIN_JSON_DEPTH_MAX, err);
	if (root == NULL)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(root, "dry_run");
	if (v != NULL && !cJSON_IsBool(v) && !cJSON_IsNull(v)) {
		*err = xstrdup("dry_run must be true or false");
		cJSON_Delete(root);
		return -1;
	}
	*dry_run = cJSON_IsTrue(v);
	cJSON_Delete(root);
	return 0;
}

/* 200 with the app's unfinished rotation, which rotation_plan found instead of planning. */
static void
reply_existing(struct http_req *hr, const char *id)
{
	struct store_rotation r;
	cJSON *doc = cJSON_CreateObject();
	int found = store_get_rotation(hr->rt->store, id, &r);

	cJSON_AddStringToObject(doc, "rotation_id", id);
	cJSON_AddStringToObject(doc, "state", found == 1 ? r.state : "unknown");
	cJSON_AddBoolToObject(doc, "existing", 1);
	if (found == 1) {
		cJSON_AddBoolToObject(doc, "dry_run", r.dry_run);
		cJSON_AddBoolToObject(doc, "approved", r.approved);
		store_rotation_clear(&r);
	}
	reply_json(hr, 200, doc);
}

static void
handle_rotate(struct http_req *hr, const struct config_app *app)
{
	char id[ROTATION_ID_SIZE], *err = NULL;
	cJSON *doc;
	int dry_run, rc;

	if (parse_rotate_body(hr, &dry_run, &err) == -1) {
		reply_error(hr, 400, err);
		free(err);
		return;
	}
	rc = rotation_plan(hr->rt->store, app, "manual", NULL, dry_run, id, &err);
	if (rc == -1) {
		log_ctx(LOG_LEVEL_ERROR, hr->id, app->name, "admin API: cannot plan a rotation: %s", err);
		reply_error(hr, 503, err);
		free(err);
		return;
	}
	if (rc == 1) {
		reply_existing(hr, id);
		return;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, app->name, "admin API: planned rotation %s%s from %s", id,
	    dry_run ? " (dry run)" : "", hr->client);
	rotator_wake(hr->rt->rotator);
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "rotation_id", id);
	cJSON_AddStringToObject(doc, "state", rotation_state_name(ROTATION_PLANNED));
	cJSON_AddBoolToObject(doc, "dry_run", dry_run || app->rotation_mode == ROTATION_MODE_DRY_RUN);
	cJSON_AddBoolToObject(doc, "waiting_for_approval",
	    app->rotation_mode == ROTATION_MODE_APPROVE);
	reply_json(hr, 202, doc);
}

static void
handle_approve(struct http_req *hr, const char *id)
{
	struct store_rotation r;
	char *err = NULL;
	cJSON *doc;
	int found = store_get_rotation(hr->rt->store, id, &r);

	if (found != 1) {
		reply_error(hr, found == 0 ? 404 : 503,
		    found == 0 ? "no such rotation" : "cannot read the store");
		return;
	}
	util_strlcpy(hr->app, r.app, sizeof(hr->app));
	if (rotation_approve(hr->rt->store, id, &err) == -1) {
		/* Not planned any more, or the write failed. */
		doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "error", err);
		cJSON_AddStringToObject(doc, "state", r.state);
		reply_json(hr, strcmp(r.state, rotation_state_name(ROTATION_PLANNED)) != 0 ? 409 : 503,
		    doc);
		free(err);
		store_rotation_clear(&r);
		return;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, r.app, "admin API: rotation %s approved from %s", id,
	    hr->client);
	rotator_wake(hr->rt->rotator);
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "rotation_id", id);
	cJSON_AddStringToObject(doc, "state", r.state);
	cJSON_AddBoolToObject(doc, "approved", 1);
	reply_json(hr, 200, doc);
	store_rotation_clear(&r);
}

static void
handle_resolve(struct http_req *hr, const char *id)
{
	struct store_incident inc;
	char *err = NULL;
	cJSON *doc;
	int found = store_get_incident(hr->rt->store, id, &inc);

	if (found != 1) {
		reply_error(hr, found == 0 ? 404 : 503,
		    found == 0 ? "no such incident" : "cannot read the store");
		return;
	}
	util_strlcpy(hr->app, inc.app, sizeof(hr->app));
	store_incident_clear(&inc);
	if (correlate_resolve(hr->rt->store, id, &err) == -1) {
		reply_error(hr, 503, err);
		free(err);
		return;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, hr->app, "admin API: incident %s resolved from %s", id,
	    hr->client);
	alerts_wake(hr->rt->alerts);
	doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "incident_id", id);
	cJSON_AddStringToObject(doc, "state", "resolved");
	cJSON_AddStringToObject(doc, "resolved_by", "operator");
	reply_json(hr, 200, doc);
}

/*
 * The one path segment of rest between prefix and suffix, copied into out;
 * 0, or -1 when rest does not have that shape or the segment does not fit.
 */
static int
segment(const char *rest, const char *prefix, const char *suffix, char *out, size_t size)
{
	size_t plen = strlen(prefix), slen = strlen(suffix), len = strlen(rest), n;

	if (len <= plen + slen || strncmp(rest, prefix, plen) != 0 ||
	    strcmp(rest + len - slen, suffix) != 0)
		return -1;
	n = len - plen - slen;
	if (n >= size || memchr(rest + plen, '/', n) != NULL)
		return -1;
	memcpy(out, rest + plen, n);
	out[n] = '\0';
	return 0;
}

/* The answer of a webhook destination operation, when it ends. */
static void
webhook_answer_cb(const struct webhook_outcome *o, void *arg)
{
	struct http_req *hr = arg;
	cJSON *doc = cJSON_CreateObject();

	cJSON_AddStringToObject(doc, "result", o->result);
	cJSON_AddStringToObject(doc, "message", o->message);
	if (o->webhook_id != NULL)
		cJSON_AddStringToObject(doc, "webhook_id", o->webhook_id);
	reply_json(hr, o->status, doc);
}

/* The optional {"fix":bool} body of a register; 0 and *fix, or -1 and *err. */
static int
parse_fix_body(struct http_req *hr, int *fix, char **err)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(hr->req);
	size_t len = evbuffer_get_length(in);
	const cJSON *v;
	cJSON *root;

	*fix = 0;
	if (len == 0)
		return 0;
	root = json_parse_object((const char *)evbuffer_pullup(in, -1), len, ADMIN_MAX_BODY,
	    ADMIN_JSON_DEPTH_MAX, err);
	if (root == NULL)
		return -1;
	v = cJSON_GetObjectItemCaseSensitive(root, "fix");
	if (v != NULL && !cJSON_IsBool(v) && !cJSON_IsNull(v)) {
		*err = xstrdup("fix must be true or false");
		cJSON_Delete(root);
		return -1;
	}
	*fix = cJSON_IsTrue(v);
	cJSON_Delete(root);
	return 0;
}

/*
 * POST apps/{app}/webhook/register and .../rotate-secret: carried out by the
 * daemon, answered when done (a rotation takes one call to Nylas).
 */
static void
handle_webhook(struct http_req *hr, const struct config_app *app, int rotate)
{
	char *err = NULL;
	int fix = 0;

	if (evhttp_request_get_command(hr->req) != EVHTTP_REQ_POST) {
		reply_method(hr, "POST");
		return;
	}
	if (!rotate && parse_fix_body(hr, &fix, &err) == -1) {
		reply_error(hr, 400, err);
		free(err);
		return;
	}
	if (hr->rt->webhooks == NULL) {
		reply_error(hr, 503, "rekey is stopping");
		return;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, app->name, "admin API: webhook %s%s from %s",
	    rotate ? "rotate-secret" : "register", fix ? " --fix" : "", hr->client);
	if (rotate)
		webhook_manager_rotate(hr->rt->webhooks, app->name, "manual", webhook_answer_cb, hr);
	else
		webhook_manager_register(hr->rt->webhooks, app->name, fix, webhook_answer_cb, hr);
}

/* apps/{app}/webhook/{register|rotate-secret}: 1 when rest was one (answered), else 0. */
static int
route_webhook(struct http_req *hr, const char *rest)
{
	static const char *const suffixes[] = { "/webhook/register", "/webhook/rotate-secret" };
	char name[sizeof(hr->app)];
	const struct config_app *app;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (segment(rest, "apps/", suffixes[i], name, sizeof(name)) == -1)
			continue;
		app = config_find_app(hr->rt->cfg, name);
		if (app == NULL) {
			reply_error(hr, 404, "no such app");
			return 1;
		}
		util_strlcpy(hr->app, app->name, sizeof(hr->app));
		handle_webhook(hr, app, i == 1);
		return 1;
	}
	return 0;
}

void
admin_handle(struct http_req *hr, const char *rest)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(hr->req);
	const struct config_app *app;
	char name[sizeof(hr->app)], id[ROTATION_ID_SIZE];

	if (!authorized(hr)) {
		evhttp_add_header(evhttp_request_get_output_headers(hr->req), "WWW-Authenticate",
		    "Bearer realm=\"rekey\"");
		reply_error(hr, 401, "unauthorized");
		return;
	}
	if (strcmp(rest, "status") == 0) {
		if (cmd == EVHTTP_REQ_GET)
			handle_status(hr);
		else
			reply_method(hr, "GET");
	} else if (route_webhook(hr, rest)) {
		return;
	} else if (segment(rest, "apps/", "/rotate", name, sizeof(name)) == 0) {
		app = config_find_app(hr->rt->cfg, name);
		if (app == NULL) {
			reply_error(hr, 404, "no such app");
			return;
		}
		util_strlcpy(hr->app, app->name, sizeof(hr->app));
		if (cmd == EVHTTP_REQ_POST)
			handle_rotate(hr, app);
		else
			reply_method(hr, "POST");
	} else if (segment(rest, "rotations/", "/approve", id, sizeof(id)) == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_approve(hr, id);
		else
			reply_method(hr, "POST");
	} else if (segment(rest, "incidents/", "/resolve", id, sizeof(id)) == 0) {
		if (cmd == EVHTTP_REQ_POST)
			handle_resolve(hr, id);
		else
			reply_method(hr, "POST");
	} else {
		reply_error(hr, 404, "not found");
	}
}
