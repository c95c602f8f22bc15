#include "intake/admin.h"
#include "intake/listener.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "notice/status.h"
#include "notice/status_leader.h"
#include "state/config.h"
#include "state/incident.h"
#include "state/leader.h"
#include "state/rotation.h"
#include "state/runtime.h"
#include "state/store.h"
#include "state/wake.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


/* A rotate request's body is at most {"dry_run":true} with some room. */
#define ADMIN_MAX_BODY 4096
#define ADMIN_JSON_DEPTH_MAX 4

/*
 * Failed attempts: a client that fails FAIL_MAX times within FAIL_WINDOW_MS
 * is answered 429 until that window ends, its token not even compared.  The
 * table is bounded: a new client takes a free slot or the oldest one.
 */
#define FAIL_MAX 20
#define FAIL_WINDOW_MS 60000
#define FAIL_SLOTS 256

struct failure {
	char client[64];	/* as the listener found it: "" is a free slot */
	int64_t since_ms;	/* the window's start */
	int count;
};

static struct failure failures[FAIL_SLOTS];

/*
 * Answers with the JSON document (deleted here).  No cache, the browser's
 * or a proxy's, keeps an answer: they describe the tenant's secrets and are
 * read with the admin token.
 */
static void
reply_json(struct http_req *hr, int status, cJSON *doc)
{
	char *text = cJSON_PrintUnformatted(doc);

	if (text == NULL)
		fatal("out of memory rendering JSON");
	cJSON_Delete(doc);
	http_add_header(hr, "Cache-Control", "no-store");
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
	http_add_header(hr, "Allow", allow);
	reply_error(hr, 405, "method not allowed");
}

/* The client's slot, or NULL when it has none. */
static struct failure *
failure_find(const char *client)
{
	size_t i;

	for (i = 0; i < FAIL_SLOTS; i++)
		if (failures[i].client[0] != '\0' && strcmp(failures[i].client, client) == 0)
			return &failures[i];
	return NULL;
}

/* Milliseconds the client must still wait, or 0 when it may try. */
static int64_t
failure_wait_ms(const char *client, int64_t now)
{
	const struct failure *f = failure_find(client);

	if (f == NULL || f->count < FAIL_MAX || now - f->since_ms >= FAIL_WINDOW_MS)
		return 0;
	return FAIL_WINDOW_MS - (now - f->since_ms);
}

static void
failure_record(const struct http_req *hr, int64_t now)
{
	struct failure *f = failure_find(hr->client);
	size_t i;

	if (f == NULL) {
		f = &failures[0];
		for (i = 0; i < FAIL_SLOTS && f->client[0] != '\0'; i++)
			if (failures[i].client[0] == '\0' || failures[i].since_ms < f->since_ms)
				f = &failures[i];
		util_strlcpy(f->client, hr->client, sizeof(f->client));
		f->count = 0;
		f->since_ms = now;
	}
	if (now - f->since_ms >= FAIL_WINDOW_MS) {
		f->count = 0;
		f->since_ms = now;
	}
	if (++f->count == FAIL_MAX)
		log_ctx(LOG_LEVEL_WARN, hr->id, NULL, "admin API: %d failed attempts from %s: "
		    "refusing it for up to %d s", FAIL_MAX, hr->client, FAIL_WINDOW_MS / 1000);
}

/* 1 when the request carries the token want, else 0. */
static int
authorized(struct http_req *hr, const struct secret *want)
{
	static int warned_off;
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

/*
 * The token must not cross a network in clear: a trusted proxy that says how
 * the request reached it is believed (a proxy on this host would otherwise
 * pass plain HTTP from anywhere as a loopback peer); else the listener speaks
 * TLS, or the peer is on this host.
 */
static int
transport_ok(const struct http_req *hr)
{
	if (hr->forwarded_https || hr->forwarded_plain)
		return hr->forwarded_https;
	return hr->tls || hr->peer_loopback;
}

/*
 * 0 when the request may go on; else it has been answered (403 over plain
 * HTTP, 429 after too many failures, 401 without the token want).
 */
static int
admit(struct http_req *hr, const struct secret *want)
{
	int64_t now = util_now_ms(), wait = failure_wait_ms(hr->client, now);
	char secs[24];

	if (!transport_ok(hr)) {
		reply_error(hr, 403, "the admin API is served over HTTPS only");
		return -1;
	}
	if (wait > 0) {
		snprintf(secs, sizeof(secs), "%lld", (long long)(wait + 999) / 1000);
		http_add_header(hr, "Retry-After", secs);
		reply_error(hr, 429, "too many failed attempts");
		return -1;
	}
	if (!authorized(hr, want)) {
		failure_record(hr, now);
		http_add_header(hr, "WWW-Authenticate",
		    "Bearer realm=\"rekey\"");
		reply_error(hr, 401, "unauthorized");
		return -1;
	}
	return 0;
}

static void
handle_status(struct http_req *hr)
{
	cJSON *doc = status_build(hr->rt->store, hr->rt->cfg);
	struct leader_info info;

	if (doc == NULL) {
		reply_error(hr, 503, "cannot read the store");
		return;
	}
	/* Replicas: who leads, as this one's election thread last read it, and who answers. */
	if (hr->rt->leader != NULL && leader_replicated(hr->rt->leader)) {
		leader_snapshot(hr->rt->leader, &info);
		status_leader_add(doc, &info, hr->rt->cfg->node_name);
	}
	reply_json(hr, 200, doc);
}

/* The optional {"dry_run":bool} body; 0 and *dry_run, or -1 and *err (caller frees). */
static int
parse_rotate_body(struct http_req *hr, int *dry_run, char **err)
{
	size_t len;
	const char *raw = http_body(hr, &len);
	const cJSON *v;
	cJSON *root;

	*dry_run = 0;
	if (len == 0)
		return 0;
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
	wake_signal(WAKE_ROTATIONS);
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
	wake_signal(WAKE_ROTATIONS);
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
	if (incident_resolve(hr->rt->store, id, &err) == -1) {
		reply_error(hr, 503, err);
		free(err);
		return;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, hr->app, "admin API: incident %s resolved from %s", id,
	    hr->client);
	wake_signal(WAKE_INCIDENTS);
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
	size_t len;
	const char *raw = http_body(hr, &len);
	const cJSON *v;
	cJSON *root;

	*fix = 0;
	if (len == 0)
		return 0;
	root = json_parse_object(raw, len, ADMIN_MAX_BODY,
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

	if (hr->method != HTTP_POST) {
		reply_method(hr, "POST");
		return;
	}
	if (!rotate && parse_fix_body(hr, &fix, &err) == -1) {
		reply_error(hr, 400, err);
		free(err);
		return;
	}
	if (hr->rt->webhooks == NULL) {
		reply_error(hr, 503, hr->rt->draining ? "rekey is stopping" :
		    "this replica is not the leader: ask the leader (rekey status names it)");
		return;
	}
	log_ctx(LOG_LEVEL_INFO, hr->id, app->name, "admin API: webhook %s%s from %s",
	    rotate ? "rotate-secret" : "register", fix ? " --fix" : "", hr->client);
	if (rotate)
		hr->rt->webhook_rotate(hr->rt->webhooks, app->name, "manual", webhook_answer_cb, hr);
	else
		hr->rt->webhook_register(hr->rt->webhooks, app->name, fix, webhook_answer_cb, hr);
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
	enum http_method cmd = hr->method;
	const struct config *cfg = hr->rt->cfg;
	const struct config_app *app;
	char name[sizeof(hr->app)], id[ROTATION_ID_SIZE];
	int approving = segment(rest, "rotations/", "/approve", id, sizeof(id)) == 0;

	/* With approve_token_file, approving takes that token and no other. */
	if (admit(hr, approving && cfg->approve_token != NULL ? cfg->approve_token :
	    cfg->admin_token) == -1)
		return;
	if (strcmp(rest, "status") == 0) {
		if (cmd == HTTP_GET)
			handle_status(hr);
		else
			reply_method(hr, "GET");
	} else if (route_webhook(hr, rest)) {
		return;
	} else if (segment(rest, "apps/", "/rotate", name, sizeof(name)) == 0) {
		app = config_find_app(cfg, name);
		if (app == NULL) {
			reply_error(hr, 404, "no such app");
			return;
		}
		util_strlcpy(hr->app, app->name, sizeof(hr->app));
		if (cmd == HTTP_POST)
			handle_rotate(hr, app);
		else
			reply_method(hr, "POST");
	} else if (approving) {
		if (cmd == HTTP_POST)
			handle_approve(hr, id);
		else
			reply_method(hr, "POST");
	} else if (segment(rest, "incidents/", "/resolve", id, sizeof(id)) == 0) {
		if (cmd == HTTP_POST)
			handle_resolve(hr, id);
		else
			reply_method(hr, "POST");
	} else {
		reply_error(hr, 404, "not found");
	}
}
