/*
 * doctor_int: what the files of `rekey doctor` share.  Private to the
 * doctor: only src/engine/doctor*.c include it.  doctor.c drives the steps
 * (see enum doctor_step), keeps the lines and prints them; each
 * doctor_<what>.c runs the steps that check one thing: doctor_graph.c the
 * rotator's sign-in, the app in Graph, the rotator's access and the Graph
 * subscription; doctor_policy.c the app management policies; doctor_secrets.c the in-use secret and every credential's
 * end; doctor_nylas.c the Nylas connector and webhook destination;
 * doctor_notify.c the notification channels.
 */
#ifndef REKEY_ENGINE_DOCTOR_INT_H
#define REKEY_ENGINE_DOCTOR_INT_H

#include "engine/doctor.h"
#include "lib/json.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#define DAY_S 86400

struct config;
struct config_app;
struct event_base;
struct graph_app_policy;
struct graph_client;
struct http_client;
struct identity;
struct nylas_client;
struct secret;
struct store;

/* The steps of one app, in order; then the channels. */
enum doctor_step {
	STEP_APP_BEGIN,		/* clients; the offline checks */
	STEP_SIGN_IN,		/* rotator token (certificate) */
	STEP_FIND_APP,		/* GET /applications?$filter=appId eq */
	STEP_SP,		/* GET /servicePrincipals?$filter=appId eq rotator */
	STEP_ROLES,		/* GET /servicePrincipals/{id}/appRoleAssignments */
	STEP_OWNERS,		/* GET /applications/{id}/owners */
	STEP_ACCESS,		/* the verdict on roles and ownership (no call) */
	STEP_POLICY,		/* GET /policies/defaultAppManagementPolicy, the app's own */
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
	int64_t app_created;		/* the app's createdDateTime; 0 unknown */
	struct graph_app_policy *pol_tenant;	/* the tenant's policy, between its read and the app's */
};

/*
 * Adds a line about the current app (none between apps): its level, the
 * check's name, what was seen (fmt) and the fix (NULL: nothing to do).
 * Copies every string.
 */
void doctor_add_line(struct doctor *d, enum doctor_level level, const char *check,
    const char *fix, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * A fix naming the config file and the app: "rekey rotate -c FILE APP" made
 * concrete.  Caller frees.
 */
char *doctor_app_command(const struct doctor *d, const char *cmd);
/* public_url + suffix + app, without a doubled slash; NULL without public_url (caller frees). */
char *doctor_public_endpoint(const struct doctor *d, const char *suffix);
/*
 * Called by every step's callback once its answer is taken in: moves on
 * until a step waits for an answer (0), or every step is done (1: the loop
 * is told to stop).
 */
int doctor_advance(struct doctor *d);

/*
 * The steps doctor_advance starts (in doctor_<what>.c): 0 when a call is
 * under way (its callback calls doctor_advance), 1 when the step is done.
 */
int doctor_step_sign_in(struct doctor *d);
int doctor_step_find_app(struct doctor *d);
int doctor_step_sp(struct doctor *d);
int doctor_step_roles(struct doctor *d);
int doctor_step_owners(struct doctor *d);
int doctor_step_access(struct doctor *d);
int doctor_step_policy(struct doctor *d);
/* Frees what doctor_step_policy keeps between its two reads (app_reset). */
void doctor_policy_reset(struct doctor *d);
int doctor_step_probe(struct doctor *d);
int doctor_step_secrets(struct doctor *d);
int doctor_step_connector(struct doctor *d);
int doctor_step_webhooks(struct doctor *d);
int doctor_step_subscription(struct doctor *d);
int doctor_step_smtp(struct doctor *d);
int doctor_step_channel(struct doctor *d);

/*
 * Small helpers, static inline so that each file has its own copy.
 */

/* s, or dflt when s is NULL or empty. */
static inline const char *
str_or(const char *s, const char *dflt)
{
	return s != NULL && *s != '\0' ? s : dflt;
}

/* --- small parsers of the raw answers ------------------------------------ */

/* The "value" (Graph) or "data" (Nylas) array of a JSON answer; NULL when not there. */
static inline const cJSON *
json_array(const cJSON *root, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);

	return cJSON_IsArray(v) ? v : NULL;
}

static inline int
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static inline int
same_nocase(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}


#endif
