#include "state/health.h"
#include "lib/util.h"
#include "state/config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A successful read older than this many poll intervals means the poll has stopped. */
#define STALE_POLLS 3
/* ... plus this much, so that a slow poll is not called stale. */
#define STALE_SLACK_S 300
#define DAY_S 86400

static const char *const level_names[] = { "ok", "warning", "critical" };

const char *
health_level_name(enum health_level l)
{
	return (unsigned)l <= HEALTH_CRITICAL ? level_names[l] : "critical";
}

static void set(struct health_item *it, enum condition_status st, int permanent,
    const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
set(struct health_item *it, enum condition_status st, int permanent, const char *reason,
    const char *fmt, ...)
{
	va_list ap;

	it->c.status = st;
	it->c.permanent = st == CONDITION_FALSE && permanent;
	util_strlcpy(it->c.reason, reason, sizeof(it->c.reason));
	va_start(ap, fmt);
	vsnprintf(it->c.message, sizeof(it->c.message), fmt, ap);
	va_end(ap);
}

/* The weight of a false or unknown condition: permanent now, transient after the grace. */
static enum health_level
level_of(const struct condition *c, int64_t grace, int64_t now)
{
	if (c->status == CONDITION_TRUE)
		return HEALTH_OK;
	if (c->status == CONDITION_UNKNOWN)
		return HEALTH_WARNING;
	if (c->permanent || (c->since > 0 && now - c->since >= grace))
		return HEALTH_CRITICAL;
	return HEALTH_WARNING;
}

/* A recorded condition as stored, or unknown with why when nothing is stored yet. */
static void
recorded(struct health_item *it, const struct health_facts *f, const char *never)
{
	const struct condition *c = f->recorded[it->c.type];

	if (c != NULL) {
		it->c = *c;
		return;
	}
	set(it, CONDITION_UNKNOWN, 0, "NotYetChecked", "%s", never);
}

static int
rotator_configured(const struct config_app *app)
{
	return app->rotator_client_id != NULL && app->rotator_cert_file != NULL &&
	    app->rotator_key_file != NULL && app->azure_client_id != NULL &&
	    app->azure_tenant_id != NULL;
}

static void
rotator_ready(struct health_item *it, const struct config_app *app, const struct health_facts *f)
{
	if (!rotator_configured(app)) {
		set(it, CONDITION_FALSE, 1, "NotConfigured", "no rotator identity is configured "
		    "(azure_tenant_id, azure_client_id, rotator_client_id, rotator_cert_file, "
		    "rotator_key_file): rekey can neither read nor rotate this app's secrets");
		return;
	}
	recorded(it, f, "rekey has not signed in as the rotator yet (it does at start and every "
	    "expiry_poll)");
}

static void
secrets_read(struct health_item *it, const struct config_app *app, const struct health_facts *f,
    int64_t now)
{
	int64_t poll = app->expiry_poll > 0 ? app->expiry_poll : 3600;
	int64_t stale_after = STALE_POLLS * poll + STALE_SLACK_S;
	char when[32];

	recorded(it, f, "the app's secrets have not been read from Graph yet");
	if (it->c.status != CONDITION_TRUE || f->secrets_read_at <= 0 ||
	    now - f->secrets_read_at < stale_after)
		return;
	util_format_time(f->secrets_read_at, when, sizeof(when));
	set(it, CONDITION_FALSE, 0, "Stale", "the last successful read of the app's secrets was "
	    "at %s, %lld minutes ago, while expiry_poll is %lld minutes: is the daemon running?",
	    when, (long long)((now - f->secrets_read_at) / 60), (long long)(poll / 60));
	it->c.since = f->secrets_read_at + stale_after;
}

static void
secret_fresh(struct health_item *it, const struct config_app *app, const struct health_facts *f,
    int64_t now)
{
	char when[32];

	if (!f->secrets_known) {
		set(it, CONDITION_UNKNOWN, 0, "NotYetRead", "the app's secrets have not been read "
		    "from Graph yet");
		return;
	}
	if (f->rotation_id != NULL) {
		set(it, CONDITION_TRUE, 0, "RotationUnderWay", "rotation %s is %s", f->rotation_id,
		    f->rotation_state != NULL ? f->rotation_state : "under way");
		return;
	}
	if (f->in_use_key_id == NULL || f->in_use_end <= 0) {
		set(it, CONDITION_UNKNOWN, 0, "InUseUnknown", "rekey cannot tell which secret Nylas "
		    "uses (%s): set current_secret_file, or let rekey rotate once",
		    f->in_use_why != NULL ? f->in_use_why : "no such secret among the app's");
		return;
	}
	util_format_time(f->in_use_end, when, sizeof(when));
	if (f->in_use_end <= now) {
		set(it, CONDITION_FALSE, 1, "Expired", "the in-use secret %s (hint %s) ended at %s: "
		    "rotate now (rekey rotate)", f->in_use_key_id, f->in_use_hint ? f->in_use_hint : "?",
		    when);
		it->c.since = f->in_use_end;
	} else if (f->in_use_end - now <= app->rotate_before) {
		set(it, CONDITION_FALSE, 0, "ExpiresSoon", "the in-use secret %s (hint %s) ends at %s, "
		    "within rotate_before, and no rotation is under way", f->in_use_key_id,
		    f->in_use_hint ? f->in_use_hint : "?", when);
		it->c.since = f->in_use_end - app->rotate_before;
	} else {
		set(it, CONDITION_TRUE, 0, "Fresh", "the in-use secret %s ends at %s (%lld days)",
		    f->in_use_key_id, when, (long long)((f->in_use_end - now) / DAY_S));
	}
}

/* The widest warn_before threshold: the certificate is "near its end" inside it. */
static int64_t
widest_warning(const struct config_app *app)
{
	return app->n_warn_before > 0 ? app->warn_before[0] : 30 * DAY_S;
}

/* The narrowest: inside it a certificate about to lapse is critical. */
static int64_t
narrowest_warning(const struct config_app *app)
{
	return app->n_warn_before > 0 ? app->warn_before[app->n_warn_before - 1] : DAY_S;
}

static void
cert_fresh(struct health_item *it, const struct config_app *app, const struct health_facts *f,
    int64_t now)
{
	char when[32];
	int64_t left = f->cert_not_after - now;

	if (f->cert_read == 0) {
		set(it, CONDITION_FALSE, 1, "NotConfigured", "no rotator_cert_file is configured");
		return;
	}
	if (f->cert_read < 0) {
		set(it, CONDITION_FALSE, 1, "Unreadable", "rotator_cert_file cannot be read: %s",
		    f->cert_error != NULL ? f->cert_error : "unknown error");
		return;
	}
	util_format_time(f->cert_not_after, when, sizeof(when));
	if (left <= 0)
		set(it, CONDITION_FALSE, 1, "Expired", "the rotator certificate ended at %s: make a "
		    "new one, upload it to the rotator app registration, and point rotator_cert_file "
		    "and rotator_key_file at it", when);
	else if (left <= widest_warning(app))
		set(it, CONDITION_FALSE, left <= narrowest_warning(app), "ExpiresSoon", "the rotator "
		    "certificate ends at %s (%lld days): make a new one, upload it to the rotator app "
		    "registration beside the old one, then point rotator_cert_file and "
		    "rotator_key_file at it", when, (long long)(left / DAY_S));
	else
		set(it, CONDITION_TRUE, 0, "Fresh", "the rotator certificate ends at %s (%lld days)",
		    when, (long long)(left / DAY_S));
	if (it->c.status == CONDITION_FALSE)
		it->c.since = f->cert_not_after - (left <= 0 ? 0 : widest_warning(app));
}

static void
connector_ready(struct health_item *it, const struct config_app *app,
    const struct health_facts *f)
{
	if (app->nylas_api_key == NULL) {
		set(it, CONDITION_FALSE, 1, "NotConfigured", "no nylas_api_key_file is configured: "
		    "rekey cannot read the connector nor put a new secret into it");
		return;
	}
	recorded(it, f, "the Nylas connector has not been read yet (at start and every "
	    "expiry_poll)");
}

static void
webhook_registered(struct health_item *it, const struct config *cfg,
    const struct health_facts *f)
{
	if (cfg->public_url == NULL) {
		set(it, CONDITION_UNKNOWN, 0, "NoPublicURL", "public_url is not set: rekey cannot "
		    "tell whether Nylas delivers to it");
		return;
	}
	recorded(it, f, "the Nylas webhook destinations have not been read yet");
}

/*
 * Recorded by the rotator when addPassword is refused for good before it is
 * sent (the two-secret limit with nothing rekey may remove) and true again
 * once a secret is added.  Nothing recorded: no rotation was ever blocked.
 */
static void
rotation_possible(struct health_item *it, const struct health_facts *f)
{
	if (f->recorded[CONDITION_ROTATION_POSSIBLE] != NULL) {
		it->c = *f->recorded[CONDITION_ROTATION_POSSIBLE];
		return;
	}
	set(it, CONDITION_TRUE, 0, "NotBlocked", "no rotation has been blocked");
}

void
health_evaluate(const struct config *cfg, const struct config_app *app,
    const struct health_facts *f, int64_t now, struct health_report *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < CONDITION_TYPE_COUNT; i++) {
		out->items[i].c.type = (enum condition_type)i;
		out->items[i].applies = 1;
	}
	rotator_ready(&out->items[CONDITION_ROTATOR_READY], app, f);
	secrets_read(&out->items[CONDITION_SECRETS_READ], app, f, now);
	secret_fresh(&out->items[CONDITION_SECRET_FRESH], app, f, now);
	connector_ready(&out->items[CONDITION_CONNECTOR_READY], app, f);
	webhook_registered(&out->items[CONDITION_WEBHOOK_REGISTERED], cfg, f);
	recorded(&out->items[CONDITION_SUBSCRIPTION_READY], f, "the Graph subscription has not "
	    "been made yet");
	out->items[CONDITION_SUBSCRIPTION_READY].applies = app->graph_subscribe_users;
	cert_fresh(&out->items[CONDITION_ROTATOR_CERT_FRESH], app, f, now);
	rotation_possible(&out->items[CONDITION_ROTATION_POSSIBLE], f);
	out->level = HEALTH_OK;
	for (i = 0; i < CONDITION_TYPE_COUNT; i++) {
		struct health_item *it = &out->items[i];

		if (!it->applies)
			continue;
		it->level = level_of(&it->c, app->condition_grace, now);
		if (i == CONDITION_ROTATOR_CERT_FRESH && it->c.status == CONDITION_FALSE)
			it->level = it->c.permanent ? HEALTH_CRITICAL : HEALTH_WARNING;
		/* Without user notifications rekey still watches and rotates the secret: it only
		 * cannot tell a user-side cause from it.  Worth a look, not a page. */
		if (i == CONDITION_SUBSCRIPTION_READY && it->level == HEALTH_CRITICAL)
			it->level = HEALTH_WARNING;
		if (it->level > out->level)
			out->level = it->level;
	}
}

cJSON *
health_conditions_json(const struct health_report *r)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	char when[32];
	size_t i;

	for (i = 0; i < CONDITION_TYPE_COUNT; i++) {
		const struct health_item *it = &r->items[i];

		if (!it->applies)
			continue;
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "type", condition_type_name(it->c.type));
		cJSON_AddStringToObject(o, "status", condition_status_name(it->c.status));
		cJSON_AddStringToObject(o, "reason", it->c.reason);
		cJSON_AddStringToObject(o, "message", it->c.message);
		if (it->c.since > 0) {
			util_format_time(it->c.since, when, sizeof(when));
			cJSON_AddStringToObject(o, "since", when);
		} else {
			cJSON_AddNullToObject(o, "since");
		}
		cJSON_AddStringToObject(o, "level", health_level_name(it->level));
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}
