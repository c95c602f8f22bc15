/*
 * doctor: the checks of `rekey doctor`, one app after the other, each step
 * one asynchronous call on a private event loop (http_client bounds each by
 * timeout_ms and its retry budget), then the notification channels.
 *
 * The steps of an app run in order because later ones use what earlier ones
 * saw: the application's object id and credentials, the rotator's service
 * principal.  A step whose input is missing (no token, app not found) is
 * left out: the line that failed already says why.
 */
#include "engine/doctor.h"

#include "engine/preflight.h"
#include "engine/rotation_in_use.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/graph.h"
#include "outbound/http_client.h"
#include "outbound/identity.h"
#include "outbound/nylas.h"
#include "proto/explain.h"
#include "proto/jwt.h"
#include "state/config.h"
#include "state/nylas_secrets.h"
#include "state/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#define DAY_S 86400
/* A Graph subscription that ends sooner than this is a warning: the daemon renews well before. */
#define SUB_MIN_LEFT_S DAY_S
/* Longest text of a line's seen or fix. */
#define TEXT_MAX 1024

/*
 * Microsoft Graph application permissions (app role ids of the Microsoft
 * Graph service principal), from the Graph permissions reference
 * (learn.microsoft.com/graph/permissions-reference; microsoft-graph-docs-contrib
 * concepts/permissions-reference.md): they are the same in every tenant.
 */
#define ROLE_APP_RW_OWNEDBY "18a4783c-866b-4cc7-a460-3d5e5662c884"
#define ROLE_APP_RW_ALL "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
#define ROLE_DIR_RW_ALL "19dbc75e-c2e2-444c-a770-ec69d8559fc7"
#define ROLE_USER_READ_ALL "df021288-bdef-4463-88db-98f22de89214"

/* The steps of one app, in order; then the channels. */
enum doctor_step {
	STEP_APP_BEGIN,		/* clients; the offline checks */
	STEP_SIGN_IN,		/* rotator token (certificate) */
	STEP_FIND_APP,		/* GET /applications?$filter=appId eq */
	STEP_SP,		/* GET /servicePrincipals?$filter=appId eq rotator */
	STEP_ROLES,		/* GET /servicePrincipals/{id}/appRoleAssignments */
	STEP_OWNERS,		/* GET /applications/{id}/owners */
	STEP_ACCESS,		/* the verdict on roles and ownership (no call) */
	STEP_PROBE,		/* the in-use secret at the token endpoint */
	STEP_SECRETS,		/* every credential's end date (no call) */
	STEP_CONNECTOR,		/* GET /v3/connectors/microsoft */
	STEP_WEBHOOKS,		/* GET /v3/webhooks */
	STEP_SUBSCRIPTION,	/* GET /subscriptions */
	STEP_APP_END,
	STEP_SMTP,		/* connect, EHLO, STARTTLS, AUTH; nothing sent */
	STEP_SLACK,
	STEP_TEAMS,
	STEP_WEBHOOK,
	STEP_DONE,
};

struct line {
	enum doctor_level level;
	char *app;			/* NULL: not about one app */
	char *check;
	char *seen;
	char *fix;			/* NULL: nothing to do */
};

/* One passwordCredential as Graph listed it. */
struct cred {
	char *key_id;
	char *hint;
	int64_t end;
};

struct doctor {
	const struct config *cfg;
	const char *only_app;
	int send_test;
	int64_t now;
	struct event_base *base;
	struct http_client *hc;
	struct store *st;		/* NULL when it cannot be opened */
	char *store_err;
	struct line *lines;
	size_t n_lines;
	enum doctor_step step;
	size_t app_i;

	/* The app being checked. */
	const struct config_app *app;
	struct identity *id;		/* owned by gc */
	struct graph_client *gc;
	struct nylas_client *nc;
	int signed_in;
	int nylas_key_ok;		/* the connector read got past the API key */
	char *app_oid;			/* the application's object id, once found */
	struct cred *creds;
	size_t n_creds;
	char *in_use_key;		/* keyId of the in-use secret, when it can be told */
	struct secret *in_use;		/* the in-use secret, when rekey knows it */
	const char *in_use_source;
	char *sp_id;			/* the rotator's service principal */
	int roles_known;
	int has_owned_by, has_all, has_user_read;
	int owner;			/* 1, 0, or -1 unknown */
};

static int advance(struct doctor *d);

const char *
doctor_level_name(enum doctor_level level)
{
	static const char *const names[] = { "ok", "warn", "fail" };

	return names[level];
}

/* --- lines ------------------------------------------------------------- */

static void
add_line(struct doctor *d, enum doctor_level level, const char *check, const char *fix,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
add_line(struct doctor *d, enum doctor_level level, const char *check, const char *fix,
    const char *fmt, ...)
{
	struct line *l;
	va_list ap;

	d->lines = xrealloc(d->lines, (d->n_lines + 1) * sizeof(*d->lines));
	l = &d->lines[d->n_lines++];
	l->level = level;
	l->app = d->app != NULL ? xstrdup(d->app->name) : NULL;
	l->check = xstrdup(check);
	va_start(ap, fmt);
	l->seen = xvasprintf(fmt, ap);
	va_end(ap);
	l->fix = xstrdup_null(fix);
}

/* A fix naming the config file and the app: "rekey rotate -c FILE APP" made concrete. */
static char *
app_command(const struct doctor *d, const char *cmd)
{
	return xasprintf("%s -c %s %s", cmd, d->cfg->path, d->app->name);
}

static const char *
str_or(const char *s, const char *dflt)
{
	return s != NULL && *s != '\0' ? s : dflt;
}

static const char *
level_word(enum doctor_level level)
{
	static const char *const words[] = { "ok", "warn", "FAIL" };

	return words[level];
}

/* --- small parsers of the raw answers ------------------------------------ */

/* The "value" (Graph) or "data" (Nylas) array of a JSON answer; NULL when not there. */
static const cJSON *
json_array(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

	return cJSON_IsArray(v) ? v : NULL;
}

static const char *
json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int
same_nocase(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

/* public_url + suffix + app, without a doubled slash; NULL without public_url. */
static char *
public_endpoint(const struct doctor *d, const char *suffix)
{
	return config_public_endpoint(d->cfg, suffix, d->app->name);
}

/* --- error wording -------------------------------------------------------- */

/* "HTTP 403 Authorization_RequestDenied: message", or the transport's detail. */
static char *
graph_seen(const struct graph_result *res)
{
	if (res->token != NULL && res->token->aad != NULL)
		return xasprintf("no token: AADSTS%lld", (long long)res->token->aad->code);
	if (res->status == 0)
		return xasprintf("no answer: %s", str_or(res->detail, "transport error"));
	return xasprintf("HTTP %ld %s%s%s", res->status,
	    res->error != NULL ? str_or(res->error->code, "") : "",
	    res->error != NULL && res->error->message != NULL ? ": " : "",
	    res->error != NULL ? str_or(res->error->message, "") : "");
}

static const char *
graph_fix(const struct graph_result *res)
{
	const char *fix;

	if (res->token != NULL && res->token->aad != NULL &&
	    (fix = explain_aadsts(res->token->aad->code)) != NULL)
		return fix;
	fix = explain_graph(res->status, res->error != NULL ? res->error->code : NULL);
	if (fix != NULL)
		return fix;
	return res->status == 0 ? "check that graph_base is reachable from this host and that "
	    "ca_file trusts it" : "see Graph's message; retry later if it is a 5xx or 429";
}

static void
graph_failed(struct doctor *d, const char *check, const struct graph_result *res)
{
	char *seen = graph_seen(res);

	add_line(d, res->outcome == GRAPH_RETRYABLE ? DOCTOR_WARN : DOCTOR_FAIL, check,
	    graph_fix(res), "%s", seen);
	free(seen);
}

static char *
nylas_seen(const struct nylas_result *res)
{
	if (res->status == 0)
		return xasprintf("no answer: %s", str_or(res->detail, "transport error"));
	return xasprintf("HTTP %ld %s%s%s", res->status,
	    res->error != NULL ? str_or(res->error->type, "") : "",
	    res->error != NULL && res->error->message != NULL ? ": " : "",
	    res->error != NULL ? str_or(res->error->message, "") : "");
}

static void
nylas_failed(struct doctor *d, const char *check, const struct nylas_result *res)
{
	const char *fix = explain_nylas(res->status, res->error ? res->error->type : NULL);
	char *seen = nylas_seen(res);

	if (fix == NULL)
		fix = res->status == 0 ? "check that nylas_api_base is reachable from this host" :
		    "see Nylas's message; retry later if it is a 5xx or 429";
	add_line(d, res->outcome == NYLAS_RETRYABLE ? DOCTOR_WARN : DOCTOR_FAIL, check, fix,
	    "%s", seen);
	free(seen);
}

/* --- the offline checks ----------------------------------------------------- */

/* One of preflight's lines as a doctor line: its check name in doctor's words, its place. */
static void
offline_cb(const struct preflight_line *l, void *arg)
{
	static const enum doctor_level levels[] = { DOCTOR_OK, DOCTOR_WARN, DOCTOR_FAIL };
	struct doctor *d = arg;
	struct line *out;
	char *p;

	d->lines = xrealloc(d->lines, (d->n_lines + 1) * sizeof(*d->lines));
	out = &d->lines[d->n_lines++];
	out->level = levels[l->level];
	out->app = xstrdup_null(l->app);
	out->check = xstrdup(str_or(l->check, "config"));
	for (p = out->check; *p != '\0'; p++)
		*p = *p == ' ' ? '_' : (char)tolower((unsigned char)*p);
	if (l->file != NULL)
		out->seen = xasprintf("%s (%s:%d)", str_or(l->seen, ""), l->file, l->line);
	else
		out->seen = xstrdup(str_or(l->seen, ""));
	out->fix = xstrdup_null(l->fix);
}

/* The config and files, offline (preflight.c, shared with rekey check). */
static void
offline_checks(struct doctor *d)
{
	preflight_offline(d->cfg, d->only_app, d->now, offline_cb, d);
}

/* --- sign-in ------------------------------------------------------------- */

static void
sign_in_cb(const struct identity_result *res, void *arg)
{
	struct doctor *d = arg;
	const char *fix;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->status == IDENTITY_CANCELLED)
		return;
	if (res->status == IDENTITY_OK) {
		d->signed_in = 1;
		add_line(d, DOCTOR_OK, "rotator_signin", NULL, "%s signs in with %s (token for "
		    "Microsoft Graph)", d->app->rotator_client_id, d->app->rotator_cert_file);
	} else if (res->aad != NULL && res->aad->code != 0) {
		fix = explain_aadsts(res->aad->code);
		add_line(d, DOCTOR_FAIL, "rotator_signin", fix != NULL ? fix :
		    "see https://login.microsoftonline.com/error?code= with the code",
		    "the token endpoint refuses %s: AADSTS%lld %s", d->app->rotator_client_id,
		    (long long)res->aad->code, str_or(res->aad->error, ""));
	} else if (res->status != IDENTITY_CANCELLED) {
		add_line(d, res->status == IDENTITY_RETRYABLE ? DOCTOR_WARN : DOCTOR_FAIL,
		    "rotator_signin", "check that azure_login_base is reachable from this host "
		    "and that ca_file trusts it", "no token: %s", str_or(res->detail, "no answer"));
	}
	advance(d);
}

/* 0 when a call is under way (its callback advances), 1 when the step is done. */
static int
step_sign_in(struct doctor *d)
{
	if (d->gc == NULL)
		return 1;
	if (identity_get_token(d->id, sign_in_cb, d) == 0)
		return 0;
	add_line(d, DOCTOR_FAIL, "rotator_signin", NULL, "the token request could not be sent");
	return 1;
}

/* --- the application ------------------------------------------------------------ */

static void
keep_creds(struct doctor *d, const struct graph_application *a)
{
	size_t i;

	d->creds = xcalloc(a->n_passwords + 1, sizeof(*d->creds));
	for (i = 0; i < a->n_passwords; i++) {
		d->creds[i].key_id = xstrdup_null(a->passwords[i].key_id);
		d->creds[i].hint = xstrdup_null(a->passwords[i].hint);
		d->creds[i].end = a->passwords[i].end;
	}
	d->n_creds = a->n_passwords;
	d->app_oid = xstrdup(a->id);
	if (d->st != NULL) {
		const char *why = NULL;

		d->in_use_key = rotation_in_use_key(d->st, d->app, a, &why);
	}
}

static void
find_app_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	char *fix;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome == GRAPH_OK && res->application != NULL) {
		keep_creds(d, res->application);
		add_line(d, DOCTOR_OK, "graph_app", NULL, "%s (%s), object id %s, %zu client "
		    "secret%s", str_or(res->application->display_name, "(no name)"),
		    d->app->azure_client_id, res->application->id, d->n_creds,
		    d->n_creds == 1 ? "" : "s");
	} else if (res->outcome == GRAPH_NOT_FOUND) {
		fix = xasprintf("check azure_client_id (the Application (client) ID); with "
		    "Application.ReadWrite.OwnedBy the rotator sees only apps it owns: add its "
		    "service principal (%s) as an owner of the app", d->app->rotator_client_id);
		add_line(d, DOCTOR_FAIL, "graph_app", fix, "no application with appId %s is "
		    "visible to the rotator", d->app->azure_client_id);
		free(fix);
	} else if (res->outcome != GRAPH_CANCELLED) {
		graph_failed(d, "graph_app", res);
	}
	advance(d);
}

static int
step_find_app(struct doctor *d)
{
	if (!d->signed_in)
		return 1;
	return graph_find_application(d->gc, d->app->azure_client_id, find_app_cb, d) == 0 ? 0 : 1;
}

/* --- the rotator's permissions and ownership -------------------------------------- */

/* "'x''y'" OData quoting, percent-encoded for a query. */
static void
add_odata_literal(struct wbuf *b, const char *v)
{
	struct wbuf lit = WBUF_INIT;
	const char *p;

	wbuf_add_str(&lit, "'");
	for (p = v; *p != '\0'; p++)
		wbuf_add(&lit, *p == '\'' ? "''" : p, *p == '\'' ? 2 : 1);
	wbuf_add_str(&lit, "'");
	wbuf_add_escaped(b, lit.data, lit.len);
	wbuf_clear(&lit);
}

static void
sp_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	cJSON *root;
	const cJSON *value, *sp;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome == GRAPH_OK) {
		root = cJSON_ParseWithLength(res->body, res->body_len);
		value = json_array(root, "value");
		sp = value != NULL ? cJSON_GetArrayItem(value, 0) : NULL;
		if (sp != NULL && json_str(sp, "id") != NULL)
			d->sp_id = xstrdup(json_str(sp, "id"));
		cJSON_Delete(root);
	}
	advance(d);
}

/*
 * GET /servicePrincipals?$filter=appId eq '{rotator}' (serviceprincipal-list;
 * Application.ReadWrite.OwnedBy may list service principals).
 */
static int
step_sp(struct doctor *d)
{
	struct wbuf b = WBUF_INIT;
	char *path;
	int rc;

	if (!d->signed_in)
		return 1;
	wbuf_add_str(&b, "/servicePrincipals?$filter=");
	wbuf_add_escaped(&b, "appId eq ", 9);
	add_odata_literal(&b, d->app->rotator_client_id);
	wbuf_add_str(&b, "&$select=id,appId,displayName");
	path = wbuf_to_str(&b);
	rc = graph_get_json(d->gc, path, sp_cb, d);
	free(path);
	return rc == 0 ? 0 : 1;
}

static void
take_roles(struct doctor *d, const cJSON *value)
{
	const cJSON *a;

	d->roles_known = 1;
	cJSON_ArrayForEach(a, value) {
		const char *role = json_str(a, "appRoleId");

		d->has_owned_by |= same_nocase(role, ROLE_APP_RW_OWNEDBY);
		d->has_all |= same_nocase(role, ROLE_APP_RW_ALL) || same_nocase(role, ROLE_DIR_RW_ALL);
		d->has_user_read |= same_nocase(role, ROLE_USER_READ_ALL);
	}
}

static void
roles_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	cJSON *root;
	const cJSON *value;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome == GRAPH_OK) {
		root = cJSON_ParseWithLength(res->body, res->body_len);
		value = json_array(root, "value");
		if (value != NULL)
			take_roles(d, value);
		cJSON_Delete(root);
	}
	advance(d);
}

/*
 * GET /servicePrincipals/{id}/appRoleAssignments (serviceprincipal-list-
 * approleassignments): needs Application.Read.All or more, which a least-
 * privileged rotator lacks; a 403 leaves the roles unknown.
 */
/* GET prefix + id (escaped) + suffix from Graph; 0 when sent, 1 when the step is skipped. */
static int
get_object_part(struct doctor *d, const char *prefix, const char *id, const char *suffix,
    graph_cb cb)
{
	struct wbuf b = WBUF_INIT;
	char *path;
	int rc;

	if (id == NULL)
		return 1;
	wbuf_add_str(&b, prefix);
	wbuf_add_escaped(&b, id, strlen(id));
	wbuf_add_str(&b, suffix);
	path = wbuf_to_str(&b);
	rc = graph_get_json(d->gc, path, cb, d);
	free(path);
	return rc == 0 ? 0 : 1;
}

static int
step_roles(struct doctor *d)
{
	return get_object_part(d, "/servicePrincipals/", d->sp_id, "/appRoleAssignments",
	    roles_cb);
}

/* Is the rotator among the owners (directory objects of any type)? */
static int
owners_include(const struct doctor *d, const cJSON *value)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, value) {
		if (same_nocase(json_str(o, "id"), d->sp_id) ||
		    same_nocase(json_str(o, "appId"), d->app->rotator_client_id))
			return 1;
	}
	return 0;
}

static void
owners_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	cJSON *root;
	const cJSON *value;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == GRAPH_CANCELLED)
		return;
	if (res->outcome == GRAPH_OK) {
		root = cJSON_ParseWithLength(res->body, res->body_len);
		value = json_array(root, "value");
		if (value != NULL)
			d->owner = owners_include(d, value);
		cJSON_Delete(root);
	}
	advance(d);
}

/* GET /applications/{id}/owners: the first page (100 owners) is enough to find the rotator. */
static int
step_owners(struct doctor *d)
{
	return get_object_part(d, "/applications/", d->app_oid, "/owners", owners_cb);
}

static const char *
roles_text(const struct doctor *d)
{
	if (!d->roles_known)
		return "app roles not readable (that needs Application.Read.All)";
	if (d->has_all)
		return "holds Application.ReadWrite.All";
	return d->has_owned_by ? "holds Application.ReadWrite.OwnedBy" :
	    "holds neither Application.ReadWrite.OwnedBy nor Application.ReadWrite.All";
}

static const char *
owner_text(const struct doctor *d)
{
	if (d->owner == 1)
		return "is an owner of the app";
	return d->owner == 0 ? "is not an owner of the app" : "ownership unknown";
}

/* The verdict on what the rotator may do to the app. */
static void
access_verdict(struct doctor *d)
{
	char *fix_owner = xasprintf("add the rotator's service principal as an owner of the app "
	    "(Entra admin center > App registrations > %s > Owners, or az ad app owner add --id "
	    "%s --owner-object-id %s)", d->app->azure_client_id, d->app->azure_client_id,
	    str_or(d->sp_id, "<rotator service principal id>"));
	const char *grant = "grant the rotator Application.ReadWrite.OwnedBy on Microsoft Graph "
	    "(application permission, admin consent) and make its service principal an owner of "
	    "the app";
	enum doctor_level level = DOCTOR_OK;
	const char *fix = NULL;

	if (d->roles_known && !d->has_all && !d->has_owned_by) {
		level = DOCTOR_FAIL;
		fix = grant;
	} else if (!d->has_all && d->owner == 0) {
		level = DOCTOR_FAIL;
		fix = fix_owner;
	} else if (!d->has_all && d->owner == -1) {
		level = d->app_oid == NULL ? DOCTOR_FAIL : DOCTOR_WARN;
		fix = fix_owner;
	}
	add_line(d, level, "rotator_access", fix, "service principal %s: %s; %s",
	    str_or(d->sp_id, "(not found)"), roles_text(d), owner_text(d));
	free(fix_owner);
}

static void
user_read_verdict(struct doctor *d)
{
	if (!d->app->graph_subscribe_users || !d->roles_known || d->has_user_read)
		return;
	add_line(d, DOCTOR_WARN, "rotator_user_read", "grant the rotator User.Read.All on "
	    "Microsoft Graph (application permission, admin consent), or set "
	    "graph_subscribe_users = no", "graph_subscribe_users = yes but the rotator lacks "
	    "User.Read.All: no /users subscription, no user-side diagnosis");
}

static int
step_access(struct doctor *d)
{
	if (!d->signed_in)
		return 1;
	access_verdict(d);
	user_read_verdict(d);
	return 1;
}

/* --- the in-use secret ---------------------------------------------------------- */

static void
probe_cb(const struct identity_result *res, void *arg)
{
	struct doctor *d = arg;
	char *fix = NULL;
	const char *why;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->status == IDENTITY_CANCELLED)
		return;
	if (res->status == IDENTITY_OK) {
		add_line(d, DOCTOR_OK, "in_use_secret", NULL, "the secret from %s (hint %.3s) "
		    "gets a token for %s", d->in_use_source, (const char *)d->in_use->data,
		    d->app->azure_client_id);
	} else if (res->aad != NULL && res->aad->kind == IDENTITY_ERR_SECRET_EXPIRED) {
		fix = app_command(d, "rotate now: rekey rotate");
		add_line(d, DOCTOR_FAIL, "in_use_secret", fix, "the secret from %s (hint %.3s) has "
		    "expired: AADSTS7000222", d->in_use_source, (const char *)d->in_use->data);
	} else if (res->aad != NULL) {
		why = explain_aadsts(res->aad->code);
		add_line(d, DOCTOR_FAIL, "in_use_secret", why, "the token endpoint refuses the "
		    "secret from %s (hint %.3s): AADSTS%lld", d->in_use_source,
		    (const char *)d->in_use->data, (long long)res->aad->code);
	} else if (res->status != IDENTITY_CANCELLED) {
		add_line(d, DOCTOR_WARN, "in_use_secret", "run doctor again when the token "
		    "endpoint answers", "could not test the secret: %s",
		    str_or(res->detail, "no answer"));
	}
	free(fix);
	advance(d);
}

static int
step_probe(struct doctor *d)
{
	const char *source = NULL;

	if (d->st != NULL)
		d->in_use = rotation_in_use_secret(d->st, d->cfg, d->app, &source);
	else if (d->app->current_secret != NULL)
		d->in_use = secret_new(d->app->current_secret->data, d->app->current_secret->len);
	d->in_use_source = d->st != NULL ? source : "current_secret_file";
	if (d->in_use == NULL || d->in_use->len < 3) {
		add_line(d, DOCTOR_WARN, "in_use_secret", "set current_secret_file to the client "
		    "secret the Nylas connector holds now (its value, not its ID); rekey keeps "
		    "track by itself after its first rotation", "rekey cannot tell which secret "
		    "Nylas uses: no published rotation and no current_secret_file%s%s",
		    d->st == NULL ? "; store not readable: " : "", str_or(d->store_err, ""));
		return 1;
	}
	if (identity_probe_secret(d->hc, d->app, d->in_use, probe_cb, d) == 0)
		return 0;
	add_line(d, DOCTOR_WARN, "in_use_secret", NULL, "the probe could not be sent");
	return 1;
}

/* The credentials whose hint is the in-use secret's first characters. */
static size_t
hint_matches(const struct doctor *d, const struct cred **match)
{
	size_t i, n = 0, hl;

	*match = NULL;
	for (i = 0; i < d->n_creds; i++) {
		hl = d->creds[i].hint != NULL ? strlen(d->creds[i].hint) : 0;
		if (hl == 0 || hl > d->in_use->len ||
		    CRYPTO_memcmp(d->creds[i].hint, d->in_use->data, hl) != 0)
			continue;
		*match = &d->creds[i];
		n++;
	}
	return n;
}

/* Does the secret rekey believes in use match a live credential's hint? */
static void
hint_check(struct doctor *d)
{
	const struct cred *m;
	size_t n = hint_matches(d, &m);
	char *fix;

	if (n == 1) {
		add_line(d, DOCTOR_OK, "in_use_hint", NULL, "hint %.3s matches credential %s",
		    (const char *)d->in_use->data, str_or(m->key_id, "?"));
		if (d->in_use_key == NULL && m->key_id != NULL)
			d->in_use_key = xstrdup(m->key_id);
		return;
	}
	if (n > 1) {
		add_line(d, DOCTOR_WARN, "in_use_hint", "remove the credentials that are not in use "
		    "from the app registration", "%zu credentials share hint %.3s: rekey cannot "
		    "tell which one is in use", n, (const char *)d->in_use->data);
		return;
	}
	fix = app_command(d, "the secret rekey believes in use is not on the app registration: "
	    "set current_secret_file to the secret the connector holds, or rotate: rekey rotate");
	add_line(d, DOCTOR_FAIL, "in_use_hint", fix, "no live credential has hint %.3s (the "
	    "secret from %s)", (const char *)d->in_use->data, d->in_use_source);
	free(fix);
}

/* One credential's end date. */
static void
cred_line(struct doctor *d, const struct cred *c)
{
	char when[32], *fix = NULL;
	int in_use = same_nocase(c->key_id, d->in_use_key);
	int64_t left = c->end - d->now;
	enum doctor_level level = DOCTOR_OK;

	util_format_time(c->end, when, sizeof(when));
	if (in_use && left <= 0) {
		level = DOCTOR_FAIL;
		fix = app_command(d, "rotate now: rekey rotate");
	} else if (in_use && left < d->app->rotate_before) {
		level = DOCTOR_WARN;
		fix = app_command(d, "the running daemon rotates it within rotate_before; to do "
		    "it now: rekey rotate");
	}
	add_line(d, level, "secret_end", fix, "%s (hint %s)%s %s %s (%lld days)",
	    str_or(c->key_id, "?"), str_or(c->hint, "?"), in_use ? ", in use," : "",
	    left <= 0 ? "ended" : "ends", when, (long long)(left / DAY_S));
	free(fix);
}

static int
step_secrets(struct doctor *d)
{
	size_t i;

	if (d->app_oid == NULL)
		return 1;
	if (d->in_use != NULL && d->in_use->len >= 3)
		hint_check(d);
	for (i = 0; i < d->n_creds; i++)
		cred_line(d, &d->creds[i]);
	if (d->n_creds == 0)
		add_line(d, DOCTOR_FAIL, "secret_end", "create a client secret in the portal, put "
		    "it in the Nylas connector and in current_secret_file", "the app has no client "
		    "secret");
	return 1;
}

/* --- Nylas ----------------------------------------------------------------------- */

/* "none", "common", "organizations" or a tenant id: what it means next to azure_tenant_id. */
static void
tenant_line(struct doctor *d, const char *tenant)
{
	if (tenant == NULL || *tenant == '\0') {
		add_line(d, DOCTOR_OK, "connector_tenant", NULL, "no tenant (Nylas signs users in "
		    "through common)");
	} else if (same_nocase(tenant, "common") || same_nocase(tenant, "organizations")) {
		add_line(d, DOCTOR_OK, "connector_tenant", NULL, "tenant %s (multi-tenant)", tenant);
	} else if (d->app->azure_tenant_id != NULL &&
	    !same_nocase(tenant, d->app->azure_tenant_id)) {
		add_line(d, DOCTOR_WARN, "connector_tenant", "set the connector's tenant to "
		    "azure_tenant_id, or azure_tenant_id to the connector's tenant",
		    "tenant mismatch: the connector has %s, azure_tenant_id is %s", tenant,
		    d->app->azure_tenant_id);
	} else {
		add_line(d, DOCTOR_OK, "connector_tenant", NULL, "tenant %s", tenant);
	}
}

/*
 * The connector as GET /v3/connectors/microsoft shows it.  active_credential_id
 * is read here in the smallest way (nylas_api does not parse it yet).
 */
static void
connector_lines(struct doctor *d, const struct nylas_result *res)
{
	struct nylas_connector c;
	cJSON *root;
	const cJSON *data;
	const char *active;
	char *err = NULL;

	memset(&c, 0, sizeof(c));
	if (nylas_parse_connector(res->body, res->body_len, &c, &err) == -1) {
		add_line(d, DOCTOR_FAIL, "nylas_connector", NULL, "an answer rekey cannot read: %s",
		    err);
		free(err);
		return;
	}
	root = cJSON_ParseWithLength(res->body, res->body_len);
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	active = json_str(data, "active_credential_id");
	if (!same(c.client_id, d->app->azure_client_id))
		add_line(d, DOCTOR_FAIL, "nylas_connector", "set the connector's client_id to "
		    "azure_client_id (or azure_client_id to the app the connector uses)",
		    "the connector's client_id is %s, azure_client_id is %s",
		    str_or(c.client_id, "(none)"), d->app->azure_client_id);
	else
		add_line(d, DOCTOR_OK, "nylas_connector", NULL, "Microsoft connector, client_id "
		    "%s%s%s", c.client_id, active != NULL ? ", active credential " : "",
		    active != NULL ? active : "");
	tenant_line(d, c.tenant);
	cJSON_Delete(root);
	nylas_connector_clear(&c);
}

static void
connector_cb(const struct nylas_result *res, void *arg)
{
	struct doctor *d = arg;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == NYLAS_CANCELLED)
		return;
	d->nylas_key_ok = res->outcome == NYLAS_OK || res->outcome == NYLAS_NOT_FOUND;
	if (res->outcome == NYLAS_OK) {
		add_line(d, DOCTOR_OK, "nylas_api_key", NULL, "the API key works at %s",
		    d->app->nylas_api_base);
		connector_lines(d, res);
	} else if (res->outcome == NYLAS_NOT_FOUND) {
		add_line(d, DOCTOR_OK, "nylas_api_key", NULL, "the API key works at %s",
		    d->app->nylas_api_base);
		add_line(d, DOCTOR_FAIL, "nylas_connector", "create the Microsoft connector in the "
		    "Nylas application with client_id azure_client_id and the current secret",
		    "the Nylas application has no Microsoft connector");
	} else if (res->outcome != NYLAS_CANCELLED) {
		nylas_failed(d, "nylas_api_key", res);
	}
	advance(d);
}

static int
step_connector(struct doctor *d)
{
	if (d->nc == NULL)
		return 1;
	return nylas_get_json(d->nc, "/v3/connectors/microsoft", connector_cb, d) == 0 ? 0 : 1;
}

/*
 * What the store says of the destination's secret: managed by rekey (its
 * age) or the operator's file, and the last rotation.  Caller frees.
 */
static char *
webhook_secret_facts(struct doctor *d)
{
	struct nylas_secrets_record r;
	char when[32] = "?", *out;

	if (d->st == NULL || nylas_secrets_get(d->st, d->app->name, &r) == -1)
		return xstrdup("; secret: store not readable");
	if (r.rotation_at_ms > 0)
		util_format_time(r.rotation_at_ms / 1000, when, sizeof(when));
	out = xasprintf("; secret %s%lld s old%s; last rotation: %s%s%s%s%s",
	    r.secret_created_ms > 0 ? "managed by rekey, " : "from nylas_webhook_secret_file (",
	    r.secret_created_ms > 0 ? (long long)(d->now - r.secret_created_ms / 1000) : 0LL,
	    r.secret_created_ms > 0 ? "" : " unknown)",
	    r.rotation_state != NULL ? r.rotation_state : "never",
	    r.rotation_state != NULL ? " at " : "", r.rotation_state != NULL ? when : "",
	    r.rotation_error != NULL ? ": " : "", r.rotation_error != NULL ? r.rotation_error : "");
	nylas_secrets_record_clear(&r);
	return out;
}

/* The verdict on rekey's destination as nylas_find_destination judged it. */
static void
webhook_verdict(struct doctor *d, const struct nylas_destination *w, const char *url)
{
	char *fix = app_command(d, "rekey nylas register"), *facts = webhook_secret_facts(d);

	switch (w->state) {
	case NYLAS_DESTINATION_MISSING:
		add_line(d, DOCTOR_FAIL, "nylas_webhook", fix, "no webhook destination points "
		    "at %s (%d destinations)", url, w->n_destinations);
		break;
	case NYLAS_DESTINATION_NO_TRIGGERS:
		add_line(d, DOCTOR_FAIL, "nylas_webhook", fix, "destination %s for %s lacks the "
		    "triggers %s (add them: --fix)", w->id, url, w->missing);
		break;
	case NYLAS_DESTINATION_INACTIVE:
		add_line(d, strcmp(w->status, "failing") == 0 ? DOCTOR_WARN : DOCTOR_FAIL,
		    "nylas_webhook", "make the endpoint answer (rekey serve behind public_url), then "
		    "set the destination active in the Nylas dashboard", "destination %s for %s has "
		    "status %s", w->id, url, w->status);
		break;
	case NYLAS_DESTINATION_EXTRA:
		add_line(d, DOCTOR_WARN, "nylas_webhook", "remove the other triggers from the "
		    "destination: rekey ignores them", "destination %s for %s also has the triggers "
		    "%s%s", w->id, url, w->extra, facts);
		break;
	case NYLAS_DESTINATION_OK:
		add_line(d, DOCTOR_OK, "nylas_webhook", NULL, "destination %s for %s, active, "
		    "grant.created/updated/deleted/expired%s", w->id, url, facts);
		break;
	}
	free(facts);
	free(fix);
}

static void
webhooks_cb(const struct nylas_result *res, void *arg)
{
	struct doctor *d = arg;
	char *url = public_endpoint(d, "/webhooks/nylas/"), *err = NULL;
	struct nylas_destination w;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == NYLAS_CANCELLED)
		return;
	if (res->outcome != NYLAS_OK)
		nylas_failed(d, "nylas_webhook", res);
	else if (nylas_find_destination(res->body, res->body_len, url, &w, &err) == -1)
		add_line(d, DOCTOR_FAIL, "nylas_webhook", NULL, "GET /v3/webhooks: %s", err);
	else
		webhook_verdict(d, &w, url);
	if (res->outcome == NYLAS_OK && err == NULL)
		nylas_destination_clear(&w);
	free(err);
	free(url);
	advance(d);
}

static int
step_webhooks(struct doctor *d)
{
	/* A key Nylas refused, or no answer at all, has its line already; asking again adds noise. */
	if (d->nc == NULL || !d->nylas_key_ok)
		return 1;
	if (d->cfg->public_url == NULL || d->cfg->public_url[0] == '\0') {
		add_line(d, DOCTOR_WARN, "nylas_webhook", "set public_url in [server] to the "
		    "address Nylas and Graph reach rekey at", "no public_url: rekey's destination "
		    "cannot be told apart");
		return 1;
	}
	return nylas_get_json(d->nc, "/v3/webhooks", webhooks_cb, d) == 0 ? 0 : 1;
}

/* --- the Graph subscription ------------------------------------------------------------- */

static void
subscriptions_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	char *url = public_endpoint(d, "/webhooks/graph/"), when[32];
	const struct graph_subscription *s = NULL;
	size_t i;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->outcome == GRAPH_CANCELLED)
		return;
	for (i = 0; res->outcome == GRAPH_OK && i < res->n_subscriptions && s == NULL; i++)
		if (same(res->subscriptions[i].notification_url, url))
			s = &res->subscriptions[i];
	if (res->outcome != GRAPH_OK) {
		if (res->outcome != GRAPH_CANCELLED)
			graph_failed(d, "graph_subscription", res);
	} else if (s == NULL) {
		add_line(d, DOCTOR_FAIL, "graph_subscription", "run the daemon (rekey serve): it "
		    "creates the subscription and renews it", "no Graph subscription notifies %s",
		    url);
	} else {
		util_format_time(s->expiration, when, sizeof(when));
		add_line(d, s->expiration - d->now < SUB_MIN_LEFT_S ? DOCTOR_WARN : DOCTOR_OK,
		    "graph_subscription", s->expiration - d->now < SUB_MIN_LEFT_S ?
		    "run the daemon (rekey serve): it renews the subscription" : NULL,
		    "%s on %s ends %s", s->id, str_or(s->resource, "?"), when);
	}
	free(url);
	advance(d);
}

static int
step_subscription(struct doctor *d)
{
	if (!d->app->graph_subscribe_users || !d->signed_in || d->cfg->public_url == NULL ||
	    d->cfg->public_url[0] == '\0')
		return 1;
	return graph_list_subscriptions(d->gc, subscriptions_cb, d) == 0 ? 0 : 1;
}

/* --- one app's beginning and end ------------------------------------------------------- */

static void
app_reset(struct doctor *d)
{
	size_t i;

	graph_client_free(d->gc);
	nylas_client_free(d->nc);
	for (i = 0; i < d->n_creds; i++) {
		free(d->creds[i].key_id);
		free(d->creds[i].hint);
	}
	free(d->creds);
	free(d->app_oid);
	free(d->in_use_key);
	free(d->sp_id);
	secret_free(d->in_use);
	d->gc = NULL;
	d->nc = NULL;
	d->id = NULL;
	d->creds = NULL;
	d->n_creds = 0;
	d->app_oid = d->in_use_key = d->sp_id = NULL;
	d->in_use = NULL;
	d->in_use_source = NULL;
	d->signed_in = d->roles_known = d->has_owned_by = d->has_all = d->has_user_read = 0;
	d->nylas_key_ok = 0;
	d->owner = -1;
}

static int
step_app_begin(struct doctor *d)
{
	char *err = NULL;

	app_reset(d);
	if (d->app->graph_base == NULL || d->app->graph_base[0] == '\0')
		err = xstrdup("graph_base is empty");
	else
		d->id = identity_rotator_new(d->hc, d->app, &err);
	if (d->id != NULL)
		d->gc = graph_client_new(d->hc, d->app->graph_base, d->id, d->app->name);
	else
		add_line(d, DOCTOR_FAIL, "rotator_signin", "set azure_tenant_id, rotator_client_id, "
		    "and rotator_cert_file with rotator_key_file, its key (the certificate "
		    "registered on the rotator app)", "no sign-in attempted: %s", err);
	free(err);
	err = NULL;
	d->nc = nylas_client_from_app(d->hc, d->app, &err);
	if (d->nc == NULL)
		add_line(d, DOCTOR_FAIL, "nylas_api_key", "set nylas_api_key_file", "%s", err);
	free(err);
	return 1;
}

/* The next app to check after the current one, or NULL. */
static const struct config_app *
next_app(struct doctor *d)
{
	while (d->app_i < d->cfg->n_apps) {
		const struct config_app *a = d->cfg->apps[d->app_i++];

		if (d->only_app == NULL || strcmp(a->name, d->only_app) == 0)
			return a;
	}
	return NULL;
}

static int
step_app_end(struct doctor *d)
{
	app_reset(d);
	d->app = next_app(d);
	return 1;
}

/* --- notification channels ---------------------------------------------------------------- */

static void
smtp_cb(const struct http_response *resp, void *arg)
{
	struct doctor *d = arg;
	char *shown;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (resp->outcome == HTTP_OUTCOME_CANCELLED)
		return;
	shown = util_url_shown(d->cfg->smtp_url, 1);
	if (resp->outcome == HTTP_OUTCOME_OK)
		add_line(d, DOCTOR_OK, "notify_smtp", NULL, "%s: connected, STARTTLS%s; nothing "
		    "sent", shown, d->cfg->smtp_user != NULL ? ", AUTH accepted" : "");
	else
		add_line(d, DOCTOR_FAIL, "notify_smtp", resp->status == 535 || resp->status == 534 ?
		    "check smtp_user and smtp_password_file (and that the account may send over "
		    "SMTP AUTH)" : "check smtp_url, that the server offers STARTTLS and that "
		    "ca_file trusts it", "%s: %s", shown, str_or(resp->error, "failed"));
	free(shown);
	advance(d);
}

static int
step_smtp(struct doctor *d)
{
	struct http_mail m;
	char *shown;

	if (d->cfg->smtp_url == NULL)
		return 1;
	memset(&m, 0, sizeof(m));
	m.url = d->cfg->smtp_url;
	m.user = d->cfg->smtp_user;
	m.password = d->cfg->smtp_password;
	m.service = "smtp";
	m.max_attempts = 1;
	m.connect_only = 1;
	if (http_client_send_mail(d->hc, &m, smtp_cb, d) == 0)
		return 0;
	shown = util_url_shown(d->cfg->smtp_url, 1);
	add_line(d, DOCTOR_FAIL, "notify_smtp", "check smtp_url, smtp_user and "
	    "smtp_password_file", "%s: refused before connecting (see the log line)", shown);
	free(shown);
	return 1;
}

static const char *
channel_check(enum doctor_step step)
{
	if (step == STEP_SLACK)
		return "notify_slack";
	return step == STEP_TEAMS ? "notify_teams" : "notify_webhook";
}

static void
post_cb(const struct http_response *resp, void *arg)
{
	struct doctor *d = arg;
	const char *check = channel_check(d->step);

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (resp->outcome == HTTP_OUTCOME_CANCELLED)
		return;
	if (resp->outcome == HTTP_OUTCOME_OK)
		add_line(d, DOCTOR_OK, check, NULL, "test message accepted (HTTP %ld)",
		    resp->status);
	else if (resp->outcome != HTTP_OUTCOME_CANCELLED)
		add_line(d, DOCTOR_FAIL, check, d->step == STEP_WEBHOOK ? "check webhook_url and "
		    "that webhook_secret_file holds the receiver's secret" : "check the URL in "
		    "[notify] (a revoked incoming webhook answers 403, 404 or 410)",
		    "test message refused: %s", str_or(resp->error, "failed"));
	advance(d);
}

/* The test message of a channel (Slack and Teams incoming webhooks; Standard Webhooks JSON). */
static char *
test_body(const struct doctor *d, enum doctor_step step)
{
	char when[32];

	util_format_time(d->now, when, sizeof(when));
	if (step == STEP_SLACK)
		return xstrdup("{\"text\":\"rekey doctor: test message; nothing is wrong.\"}");
	if (step == STEP_TEAMS)
		return xstrdup("{\"type\":\"message\",\"attachments\":[{\"contentType\":"
		    "\"application/vnd.microsoft.card.adaptive\",\"content\":{\"type\":"
		    "\"AdaptiveCard\",\"version\":\"1.4\",\"body\":[{\"type\":\"TextBlock\","
		    "\"text\":\"rekey doctor: test message; nothing is wrong.\"}]}}]}");
	return xasprintf("{\"type\":\"rekey.test\",\"timestamp\":\"%s\",\"data\":{\"message\":"
	    "\"rekey doctor: test message; nothing is wrong.\"}}", when);
}

/* The signed webhook's headers (Standard Webhooks); -1 without a usable secret. */
static int
sign_test(const struct doctor *d, struct http_request *req, char *id_h, char *ts_h, size_t hsz,
    char **sig_h)
{
	char *sig, guid[CRYPTO_GUID_LEN + 1], id[CRYPTO_GUID_LEN + 8];

	if (crypto_guid(guid) == -1)
		return -1;
	/* The id signed is the header's exactly (Standard Webhooks: "{id}.{timestamp}.{body}"). */
	snprintf(id, sizeof(id), "msg_%s", guid);
	sig = crypto_standard_webhook_signature(d->cfg->webhook_secret, id, d->now, req->body,
	    req->body_len);
	if (sig == NULL)
		return -1;
	snprintf(id_h, hsz, "webhook-id: %s", id);
	snprintf(ts_h, hsz, "webhook-timestamp: %lld", (long long)d->now);
	*sig_h = xasprintf("webhook-signature: %s", sig);
	free(sig);
	req->headers[0] = id_h;
	req->headers[1] = ts_h;
	req->headers[2] = *sig_h;
	return 0;
}

static int
post_test(struct doctor *d, const char *url)
{
	struct http_request req;
	char *body = test_body(d, d->step), *sig_h = NULL, id_h[96], ts_h[96];
	int rc = -1;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/json";
	req.body = body;
	req.body_len = strlen(body);
	req.service = d->step == STEP_SLACK ? "slack" : d->step == STEP_TEAMS ? "teams" : "webhook";
	req.max_attempts = 1;
	req.max_response = 64 * 1024;
	req.url_is_secret = 1;
	if (d->step != STEP_WEBHOOK || sign_test(d, &req, id_h, ts_h, sizeof(id_h), &sig_h) == 0)
		rc = http_client_send(d->hc, &req, post_cb, d);
	free(body);
	free(sig_h);
	return rc;
}

static int
step_channel(struct doctor *d)
{
	const char *url = d->step == STEP_SLACK ? d->cfg->slack_webhook_url :
	    d->step == STEP_TEAMS ? d->cfg->teams_webhook_url : d->cfg->webhook_url;

	if (url == NULL)
		return 1;
	if (!d->send_test) {
		add_line(d, DOCTOR_OK, channel_check(d->step), NULL, "configured; not tested (use "
		    "--send-test)");
		return 1;
	}
	if (post_test(d, url) == 0)
		return 0;
	add_line(d, DOCTOR_FAIL, channel_check(d->step), "check the channel's settings in "
	    "[notify]", "the test message could not be sent");
	return 1;
}

/* --- the driver ------------------------------------------------------------------------------ */

/* Starts the current step: 0 when a call is under way, 1 when it is done. */
static int
step_start(struct doctor *d)
{
	switch (d->step) {
	case STEP_APP_BEGIN:	return step_app_begin(d);
	case STEP_SIGN_IN:	return step_sign_in(d);
	case STEP_FIND_APP:	return step_find_app(d);
	case STEP_SP:		return step_sp(d);
	case STEP_ROLES:	return step_roles(d);
	case STEP_OWNERS:	return step_owners(d);
	case STEP_ACCESS:	return step_access(d);
	case STEP_PROBE:	return step_probe(d);
	case STEP_SECRETS:	return step_secrets(d);
	case STEP_CONNECTOR:	return step_connector(d);
	case STEP_WEBHOOKS:	return step_webhooks(d);
	case STEP_SUBSCRIPTION:	return step_subscription(d);
	case STEP_APP_END:	return step_app_end(d);
	case STEP_SMTP:		return step_smtp(d);
	case STEP_SLACK:
	case STEP_TEAMS:
	case STEP_WEBHOOK:	return step_channel(d);
	default:		return 1;
	}
}

/*
 * Moves on from the step that just ended until one waits for an answer (0),
 * or every step is done (1: the loop is told to stop).
 */
static int
advance(struct doctor *d)
{
	for (;;) {
		/* After an app's last step, the next app's first, while there is one. */
		if (d->step == STEP_APP_END && d->app != NULL)
			d->step = STEP_APP_BEGIN;
		else
			d->step++;
		if (d->step >= STEP_DONE)
			break;
		if (step_start(d) == 0)
			return 0;
	}
	event_base_loopbreak(d->base);
	return 1;
}

/* Runs the first step; the event loop then runs the others. */
static void
run(struct doctor *d)
{
	d->step = d->app != NULL ? STEP_APP_BEGIN : STEP_SMTP;
	if (step_start(d) == 0 || advance(d) == 0)
		event_base_dispatch(d->base);
}

/* --- output ------------------------------------------------------------------------------------ */

static enum doctor_level
worst(const struct doctor *d)
{
	enum doctor_level w = DOCTOR_OK;
	size_t i;

	for (i = 0; i < d->n_lines; i++)
		if (d->lines[i].level > w)
			w = d->lines[i].level;
	return w;
}

static void
print_text(const struct doctor *d, FILE *out)
{
	static const char *const results[] = { "all ok", "warnings", "FAILED" };
	size_t i, n[3] = { 0, 0, 0 };

	for (i = 0; i < d->n_lines; i++) {
		const struct line *l = &d->lines[i];

		n[l->level]++;
		fprintf(out, "%-4s  %s%s%s: %s\n", level_word(l->level), l->app ? l->app : "",
		    l->app ? " " : "", l->check, l->seen);
		if (l->fix != NULL)
			fprintf(out, "      fix: %s\n", l->fix);
	}
	fprintf(out, "doctor: %s (%zu ok, %zu warning%s, %zu failure%s)\n", results[worst(d)],
	    n[0], n[1], n[1] == 1 ? "" : "s", n[2], n[2] == 1 ? "" : "s");
}

static void
print_json(const struct doctor *d, FILE *out)
{
	static const char *const results[] = { "ok", "warning", "critical" };
	cJSON *root = cJSON_CreateObject(), *checks = cJSON_CreateArray(), *c;
	char *text;
	size_t i;

	cJSON_AddStringToObject(root, "result", results[worst(d)]);
	cJSON_AddItemToObject(root, "checks", checks);
	for (i = 0; i < d->n_lines; i++) {
		const struct line *l = &d->lines[i];

		c = cJSON_CreateObject();
		cJSON_AddItemToObject(c, "app", l->app ? cJSON_CreateString(l->app) :
		    cJSON_CreateNull());
		cJSON_AddStringToObject(c, "check", l->check);
		cJSON_AddStringToObject(c, "level", doctor_level_name(l->level));
		cJSON_AddStringToObject(c, "seen", l->seen);
		cJSON_AddItemToObject(c, "fix", l->fix ? cJSON_CreateString(l->fix) :
		    cJSON_CreateNull());
		cJSON_AddItemToArray(checks, c);
	}
	text = cJSON_Print(root);
	if (text == NULL)
		fatal("out of memory");
	fprintf(out, "%s\n", text);
	free(text);
	cJSON_Delete(root);
}

/* --- set-up and tear-down -------------------------------------------------------------------------- */

static void
doctor_clear(struct doctor *d)
{
	size_t i;

	app_reset(d);
	http_client_free(d->hc);
	store_close(d->st);
	if (d->base != NULL)
		event_base_free(d->base);
	for (i = 0; i < d->n_lines; i++) {
		free(d->lines[i].app);
		free(d->lines[i].check);
		free(d->lines[i].seen);
		free(d->lines[i].fix);
	}
	free(d->lines);
	free(d->store_err);
}

int
doctor_run(const struct config *cfg, const char *app_name, int json, int send_test,
    FILE *out)
{
	struct doctor d;
	enum doctor_level w;

	memset(&d, 0, sizeof(d));
	d.cfg = cfg;
	d.only_app = app_name;
	d.send_test = send_test;
	d.now = util_now_ms() / 1000;
	d.owner = -1;
	d.base = event_base_new();
	if (d.base == NULL)
		fatal("cannot create the event loop");
	d.hc = http_client_new(d.base, cfg->ca_file, cfg->timeout_ms);
	/* Only read: rotation_in_use_secret and rotation_in_use_key take no write. */
	d.st = store_open(cfg->store_url, &d.store_err);
	/* An unknown app name is one of the offline checks' lines. */
	offline_checks(&d);
	d.app = next_app(&d);
	run(&d);
	w = worst(&d);
	if (json)
		print_json(&d, out);
	else
		print_text(&d, out);
	doctor_clear(&d);
	return w == DOCTOR_OK ? 0 : w == DOCTOR_WARN ? 1 : 2;
}
