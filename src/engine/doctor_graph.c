/*
 * doctor_graph: the checks of the rotator's side of Graph: its sign-in
 * (a token for Graph with its certificate), the app registration it is to
 * rotate (found by appId; its credentials are kept for doctor_secrets.c),
 * its service principal's app roles and whether it owns the app, and the
 * Graph subscription the daemon keeps.
 */
#include "engine/doctor_int.h"
#include "engine/rotation_in_use.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "outbound/graph.h"
#include "outbound/identity.h"
#include "proto/explain.h"
#include "state/config.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* A Graph subscription that ends sooner than this is a warning: the daemon renews well before. */
#define SUB_MIN_LEFT_S DAY_S

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

	doctor_add_line(d, res->outcome == GRAPH_RETRYABLE ? DOCTOR_WARN : DOCTOR_FAIL, check,
	    graph_fix(res), "%s", seen);
	free(seen);
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
		doctor_add_line(d, DOCTOR_OK, "rotator_signin", NULL, "%s signs in with %s (token for "
		    "Microsoft Graph)", d->app->rotator_client_id, d->app->rotator_cert_file);
	} else if (res->aad != NULL && res->aad->code != 0) {
		fix = explain_aadsts(res->aad->code);
		doctor_add_line(d, DOCTOR_FAIL, "rotator_signin", fix != NULL ? fix :
		    "see https://login.microsoftonline.com/error?code= with the code",
		    "the token endpoint refuses %s: AADSTS%lld %s", d->app->rotator_client_id,
		    (long long)res->aad->code, str_or(res->aad->error, ""));
	} else if (res->status != IDENTITY_CANCELLED) {
		doctor_add_line(d, res->status == IDENTITY_RETRYABLE ? DOCTOR_WARN : DOCTOR_FAIL,
		    "rotator_signin", "check that azure_login_base is reachable from this host "
		    "and that ca_file trusts it", "no token: %s", str_or(res->detail, "no answer"));
	}
	doctor_advance(d);
}

/* 0 when a call is under way (its callback advances), 1 when the step is done. */
int
doctor_step_sign_in(struct doctor *d)
{
	if (d->gc == NULL)
		return 1;
	if (identity_get_token(d->id, sign_in_cb, d) == 0)
		return 0;
	doctor_add_line(d, DOCTOR_FAIL, "rotator_signin", NULL, "the token request could not be sent");
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
	d->app_created = a->created;
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
		doctor_add_line(d, DOCTOR_OK, "graph_app", NULL, "%s (%s), object id %s, %zu client "
		    "secret%s", str_or(res->application->display_name, "(no name)"),
		    d->app->azure_client_id, res->application->id, d->n_creds,
		    d->n_creds == 1 ? "" : "s");
	} else if (res->outcome == GRAPH_NOT_FOUND) {
		fix = xasprintf("check azure_client_id (the Application (client) ID); with "
		    "Application.ReadWrite.OwnedBy the rotator sees only apps it owns: add its "
		    "service principal (%s) as an owner of the app", d->app->rotator_client_id);
		doctor_add_line(d, DOCTOR_FAIL, "graph_app", fix, "no application with appId %s is "
		    "visible to the rotator", d->app->azure_client_id);
		free(fix);
	} else if (res->outcome != GRAPH_CANCELLED) {
		graph_failed(d, "graph_app", res);
	}
	doctor_advance(d);
}

int
doctor_step_find_app(struct doctor *d)
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

/* The rotator's service principal: the first (the only) one listed. */
static void
take_sp(struct doctor *d, const cJSON *value)
{
	const cJSON *sp = cJSON_GetArrayItem(value, 0);

	if (sp != NULL && json_str_or(sp, "id", NULL) != NULL)
		d->sp_id = xstrdup(json_str_or(sp, "id", NULL));
}

static void
take_roles(struct doctor *d, const cJSON *value)
{
	const cJSON *a;

	d->roles_known = 1;
	cJSON_ArrayForEach(a, value) {
		const char *role = json_str_or(a, "appRoleId", NULL);

		d->has_owned_by |= same_nocase(role, ROLE_APP_RW_OWNEDBY);
		d->has_all |= same_nocase(role, ROLE_APP_RW_ALL) || same_nocase(role, ROLE_DIR_RW_ALL);
		d->has_user_read |= same_nocase(role, ROLE_USER_READ_ALL);
	}
}

/* Is the rotator among the owners (directory objects of any type)? */
static int
owners_include(const struct doctor *d, const cJSON *value)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, value) {
		if (same_nocase(json_str_or(o, "id", NULL), d->sp_id) ||
		    same_nocase(json_str_or(o, "appId", NULL), d->app->rotator_client_id))
			return 1;
	}
	return 0;
}

/* What the step that asked learns from a Graph list's "value" array. */
static void
take_list(struct doctor *d, const cJSON *value)
{
	switch (d->step) {
	case STEP_SP:
		take_sp(d, value);
		break;
	case STEP_ROLES:
		take_roles(d, value);
		break;
	case STEP_OWNERS:
		d->owner = owners_include(d, value);
		break;
	default:
		break;
	}
}

/*
 * The answer of the lists STEP_SP, STEP_ROLES and STEP_OWNERS ask for.  A
 * failure leaves what the step would have learnt unknown: the access
 * verdict says so.
 */
static void
list_cb(const struct graph_result *res, void *arg)
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
			take_list(d, value);
		cJSON_Delete(root);
	}
	doctor_advance(d);
}

/*
 * GET /servicePrincipals?$filter=appId eq '{rotator}' (serviceprincipal-list;
 * Application.ReadWrite.OwnedBy may list service principals).
 */
int
doctor_step_sp(struct doctor *d)
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
	rc = graph_get_json(d->gc, path, list_cb, d);
	free(path);
	return rc == 0 ? 0 : 1;
}

/* GET prefix + id (escaped) + suffix from Graph; 0 when sent, 1 when the step is skipped. */
static int
get_object_part(struct doctor *d, const char *prefix, const char *id, const char *suffix)
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
	rc = graph_get_json(d->gc, path, list_cb, d);
	free(path);
	return rc == 0 ? 0 : 1;
}

/*
 * GET /servicePrincipals/{id}/appRoleAssignments (serviceprincipal-list-
 * approleassignments): needs Application.Read.All or more, which a least-
 * privileged rotator lacks; a 403 leaves the roles unknown.
 */
int
doctor_step_roles(struct doctor *d)
{
	return get_object_part(d, "/servicePrincipals/", d->sp_id, "/appRoleAssignments");
}

/* GET /applications/{id}/owners: the first page (100 owners) is enough to find the rotator. */
int
doctor_step_owners(struct doctor *d)
{
	return get_object_part(d, "/applications/", d->app_oid, "/owners");
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
	doctor_add_line(d, level, "rotator_access", fix, "service principal %s: %s; %s",
	    str_or(d->sp_id, "(not found)"), roles_text(d), owner_text(d));
	free(fix_owner);
}

static void
user_read_verdict(struct doctor *d)
{
	if (!d->app->graph_subscribe_users || !d->roles_known || d->has_user_read)
		return;
	doctor_add_line(d, DOCTOR_WARN, "rotator_user_read", "grant the rotator User.Read.All on "
	    "Microsoft Graph (application permission, admin consent), or set "
	    "graph_subscribe_users = no", "graph_subscribe_users = yes but the rotator lacks "
	    "User.Read.All: no /users subscription, no user-side diagnosis");
}

int
doctor_step_access(struct doctor *d)
{
	if (!d->signed_in)
		return 1;
	access_verdict(d);
	user_read_verdict(d);
	return 1;
}

/* --- the Graph subscription ------------------------------------------------------------- */

static void
subscriptions_cb(const struct graph_result *res, void *arg)
{
	struct doctor *d = arg;
	char *url = doctor_public_endpoint(d, "/webhooks/graph/"), when[32];
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
		doctor_add_line(d, DOCTOR_FAIL, "graph_subscription", "run the daemon (rekey serve): it "
		    "creates the subscription and renews it", "no Graph subscription notifies %s",
		    url);
	} else {
		util_format_time(s->expiration, when, sizeof(when));
		doctor_add_line(d, s->expiration - d->now < SUB_MIN_LEFT_S ? DOCTOR_WARN : DOCTOR_OK,
		    "graph_subscription", s->expiration - d->now < SUB_MIN_LEFT_S ?
		    "run the daemon (rekey serve): it renews the subscription" : NULL,
		    "%s on %s ends %s", s->id, str_or(s->resource, "?"), when);
	}
	free(url);
	doctor_advance(d);
}

int
doctor_step_subscription(struct doctor *d)
{
	if (!d->app->graph_subscribe_users || !d->signed_in || d->cfg->public_url == NULL ||
	    d->cfg->public_url[0] == '\0')
		return 1;
	return graph_list_subscriptions(d->gc, subscriptions_cb, d) == 0 ? 0 : 1;
}

