/*
 * Unit tests: the conditions' records (condition.c: written only on change,
 * since moving only with the status, the spell a recovery ends) in a real
 * SQLite store, and health_evaluate as a table: what is critical at once,
 * what only after condition_grace, what is derived from the secrets and the
 * rotator certificate, and the app's roll-up.
 */
#include "state/condition.h"
#include "state/config.h"
#include "state/health.h"
#include "state/store.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY 86400
#define NOW 1900000000LL

static struct config cfg;
static struct config_app app;
static int64_t warn[] = { 30 * DAY, 14 * DAY, 7 * DAY, 1 * DAY };

static void
setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(&app, 0, sizeof(app));
	cfg.public_url = (char *)"https://hooks.example.com";
	app.name = (char *)"prod";
	app.azure_tenant_id = (char *)"t";
	app.azure_client_id = (char *)"c";
	app.rotator_client_id = (char *)"r";
	app.rotator_cert_file = (char *)"r.crt";
	app.rotator_key_file = (char *)"r.key";
	app.nylas_api_key = (struct secret *)(void *)&cfg;	/* only tested for NULL */
	app.expiry_poll = 3600;
	app.rotate_before = 30 * DAY;
	app.condition_grace = 3600;
	app.warn_before = warn;
	app.n_warn_before = 4;
	app.graph_subscribe_users = 1;
}

static struct condition
rec(enum condition_type t, enum condition_status s, int permanent, int64_t since)
{
	struct condition c;

	memset(&c, 0, sizeof(c));
	c.type = t;
	c.status = s;
	c.permanent = permanent;
	c.since = since;
	snprintf(c.reason, sizeof(c.reason), "R");
	snprintf(c.message, sizeof(c.message), "m");
	return c;
}

/* Facts of a healthy app: every recorded condition true, fresh secret and certificate. */
static void
healthy(struct health_facts *f, struct condition *recs)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < CONDITION_TYPE_COUNT; i++) {
		recs[i] = rec((enum condition_type)i, CONDITION_TRUE, 0, NOW - DAY);
		f->recorded[i] = &recs[i];
	}
	f->recorded[CONDITION_SECRET_FRESH] = NULL;
	f->recorded[CONDITION_ROTATOR_CERT_FRESH] = NULL;
	f->secrets_known = 1;
	f->secrets_read_at = NOW - 60;
	f->in_use_key_id = "k1";
	f->in_use_hint = "abc";
	f->in_use_end = NOW + 100 * DAY;
	f->cert_read = 1;
	f->cert_not_after = NOW + 365 * DAY;
}

static enum health_level
level_of(const struct health_report *r, enum condition_type t)
{
	return r->items[t].level;
}

static void
test_evaluate(void)
{
	struct condition recs[CONDITION_TYPE_COUNT];
	struct health_facts f;
	struct health_report r;

	healthy(&f, recs);
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.level == HEALTH_OK, "a healthy app is ok");

	recs[CONDITION_ROTATOR_READY] = rec(CONDITION_ROTATOR_READY, CONDITION_FALSE, 1, NOW - 5);
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_ROTATOR_READY) == HEALTH_CRITICAL && r.level == HEALTH_CRITICAL,
	    "a permanent failure is critical at once");

	recs[CONDITION_ROTATOR_READY] = rec(CONDITION_ROTATOR_READY, CONDITION_FALSE, 0, NOW - 5);
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_ROTATOR_READY) == HEALTH_WARNING && r.level == HEALTH_WARNING,
	    "a transient failure within condition_grace is a warning");

	recs[CONDITION_ROTATOR_READY].since = NOW - 3600;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_ROTATOR_READY) == HEALTH_CRITICAL,
	    "a transient failure that outlasts condition_grace is critical");

	healthy(&f, recs);
	f.recorded[CONDITION_CONNECTOR_READY] = NULL;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.items[CONDITION_CONNECTOR_READY].c.status == CONDITION_UNKNOWN &&
	    r.level == HEALTH_WARNING, "not checked yet: unknown, a warning");

	healthy(&f, recs);
	f.secrets_read_at = NOW - 4 * 3600;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.items[CONDITION_SECRETS_READ].c.status == CONDITION_FALSE &&
	    strcmp(r.items[CONDITION_SECRETS_READ].c.reason, "Stale") == 0,
	    "no successful read for 3 polls: SecretsRead is stale");
	TAP_OK(level_of(&r, CONDITION_SECRETS_READ) == HEALTH_WARNING,
	    "... a warning while the staleness is younger than the grace");
	f.secrets_read_at = NOW - 5 * 3600;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_SECRETS_READ) == HEALTH_CRITICAL,
	    "... critical once it has lasted the grace");

	healthy(&f, recs);
	f.in_use_end = NOW + 10 * DAY;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.items[CONDITION_SECRET_FRESH].c.status == CONDITION_FALSE &&
	    level_of(&r, CONDITION_SECRET_FRESH) == HEALTH_CRITICAL,
	    "in-use secret within rotate_before, for longer than the grace, no rotation: critical");
	f.rotation_id = "rot-1";
	f.rotation_state = "testing";
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.items[CONDITION_SECRET_FRESH].c.status == CONDITION_TRUE &&
	    strcmp(r.items[CONDITION_SECRET_FRESH].c.reason, "RotationUnderWay") == 0,
	    "... fresh again while a rotation is under way");
	f.rotation_id = NULL;
	f.in_use_end = NOW - 1;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(strcmp(r.items[CONDITION_SECRET_FRESH].c.reason, "Expired") == 0 &&
	    r.items[CONDITION_SECRET_FRESH].c.permanent, "an expired in-use secret: Expired, permanent");
	f.in_use_key_id = NULL;
	f.in_use_why = "no current_secret_file";
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.items[CONDITION_SECRET_FRESH].c.status == CONDITION_UNKNOWN &&
	    strstr(r.items[CONDITION_SECRET_FRESH].c.message, "no current_secret_file") != NULL,
	    "which secret is in use unknown: unknown, with why");

	healthy(&f, recs);
	f.cert_not_after = NOW + 10 * DAY;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_ROTATOR_CERT_FRESH) == HEALTH_WARNING &&
	    r.level == HEALTH_WARNING, "rotator certificate within the widest warn_before: a warning");
	f.cert_not_after = NOW + DAY / 2;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_ROTATOR_CERT_FRESH) == HEALTH_CRITICAL,
	    "... within the narrowest: critical");
	f.cert_not_after = NOW - 1;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(strcmp(r.items[CONDITION_ROTATOR_CERT_FRESH].c.reason, "Expired") == 0 &&
	    level_of(&r, CONDITION_ROTATOR_CERT_FRESH) == HEALTH_CRITICAL, "... ended: critical");
	f.cert_read = -1;
	f.cert_error = "No such file";
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(strcmp(r.items[CONDITION_ROTATOR_CERT_FRESH].c.reason, "Unreadable") == 0,
	    "an unreadable certificate says so");

	healthy(&f, recs);
	app.rotator_client_id = NULL;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(strcmp(r.items[CONDITION_ROTATOR_READY].c.reason, "NotConfigured") == 0 &&
	    r.level == HEALTH_CRITICAL, "no rotator identity configured: critical");
	app.rotator_client_id = (char *)"r";
	healthy(&f, recs);
	recs[CONDITION_SUBSCRIPTION_READY] = rec(CONDITION_SUBSCRIPTION_READY, CONDITION_FALSE, 1, 1);
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_SUBSCRIPTION_READY) == HEALTH_WARNING &&
	    r.level == HEALTH_WARNING, "a Graph subscription that cannot be made is a warning only");
	app.graph_subscribe_users = 0;
	recs[CONDITION_SUBSCRIPTION_READY] = rec(CONDITION_SUBSCRIPTION_READY, CONDITION_FALSE, 1, 1);
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(!r.items[CONDITION_SUBSCRIPTION_READY].applies && r.level == HEALTH_OK,
	    "SubscriptionReady does not count without graph_subscribe_users");
	app.graph_subscribe_users = 1;
	healthy(&f, recs);
	cfg.public_url = NULL;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(strcmp(r.items[CONDITION_WEBHOOK_REGISTERED].c.reason, "NoPublicURL") == 0 &&
	    r.level == HEALTH_WARNING, "no public_url: the webhook destination cannot be checked");
	cfg.public_url = (char *)"https://hooks.example.com";
}

/* RotationPossible: ok until a rotation is blocked; a block that needs a person is critical. */
static void
test_rotation_possible(void)
{
	struct condition recs[CONDITION_TYPE_COUNT];
	struct health_facts f;
	struct health_report r;

	healthy(&f, recs);
	f.recorded[CONDITION_ROTATION_POSSIBLE] = NULL;
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(r.items[CONDITION_ROTATION_POSSIBLE].c.status == CONDITION_TRUE && r.level == HEALTH_OK,
	    "RotationPossible: true while no rotation was ever blocked");
	recs[CONDITION_ROTATION_POSSIBLE] = rec(CONDITION_ROTATION_POSSIBLE, CONDITION_FALSE, 1,
	    NOW - 5);
	f.recorded[CONDITION_ROTATION_POSSIBLE] = &recs[CONDITION_ROTATION_POSSIBLE];
	health_evaluate(&cfg, &app, &f, NOW, &r);
	TAP_OK(level_of(&r, CONDITION_ROTATION_POSSIBLE) == HEALTH_CRITICAL &&
	    r.level == HEALTH_CRITICAL, "RotationPossible: a blocked rotation is critical at once");
	TAP_STR_EQ(condition_type_name(CONDITION_ROTATION_POSSIBLE), "RotationPossible",
	    "RotationPossible: its name");
}

static void
test_records(struct store *st)
{
	struct condition c;
	char *before = NULL, *after = NULL;

	TAP_OK(condition_get(st, "prod", CONDITION_ROTATOR_READY, &c) == 0, "no record at first");
	TAP_OK(condition_record(st, "prod", CONDITION_ROTATOR_READY, CONDITION_FALSE, 1, "Forbidden",
	    "Graph answered 403", 1000) == 0 && condition_get(st, "prod", CONDITION_ROTATOR_READY,
	    &c) == 1 && c.status == CONDITION_FALSE && c.permanent && c.since == 1000 &&
	    strcmp(c.reason, "Forbidden") == 0, "a failure is recorded with its time");
	store_get_value(st, "prod", "condition:RotatorReady", &before);
	TAP_OK(condition_record(st, "prod", CONDITION_ROTATOR_READY, CONDITION_FALSE, 1, "Forbidden",
	    "Graph answered 403", 2000) == 0, "the same outcome again");
	store_get_value(st, "prod", "condition:RotatorReady", &after);
	TAP_OK(before != NULL && after != NULL && strcmp(before, after) == 0,
	    "... writes nothing (since stays at the first sighting)");
	condition_record(st, "prod", CONDITION_ROTATOR_READY, CONDITION_FALSE, 0, "GraphUnavailable",
	    "Graph answered 503", 3000);
	condition_get(st, "prod", CONDITION_ROTATOR_READY, &c);
	TAP_OK(c.since == 1000 && !c.permanent && strcmp(c.reason, "GraphUnavailable") == 0,
	    "another reason while still false: recorded, since unchanged");
	condition_record(st, "prod", CONDITION_ROTATOR_READY, CONDITION_TRUE, 1, "Ready", "ok", 4000);
	condition_get(st, "prod", CONDITION_ROTATOR_READY, &c);
	TAP_OK(c.status == CONDITION_TRUE && c.since == 4000 && c.false_since == 1000 && !c.permanent,
	    "a recovery remembers the spell it ends");
	condition_record(st, "prod", CONDITION_SECRETS_READ, CONDITION_TRUE, 0, "Read", "3", 5000);
	{
		struct condition recs[CONDITION_TYPE_COUNT];
		const struct condition *ptr[CONDITION_TYPE_COUNT];

		TAP_OK(condition_list(st, "prod", recs, ptr) == 0 && ptr[CONDITION_ROTATOR_READY] &&
		    ptr[CONDITION_SECRETS_READ] && ptr[CONDITION_CONNECTOR_READY] == NULL &&
		    ptr[CONDITION_SECRETS_READ]->since == 5000, "condition_list reads every record");
	}
	TAP_OK(condition_parse("{\"status\":\"maybe\"}", CONDITION_ROTATOR_READY, &c) == -1 &&
	    condition_parse("[]", CONDITION_ROTATOR_READY, &c) == -1, "bad records are refused");
	free(before);
	free(after);
}

int
main(void)
{
	char dir[] = "/tmp/rekey-health-XXXXXX", url[128], *err = NULL, db[128];
	struct store *st;

	setup();
	test_evaluate();
	test_rotation_possible();
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(url, sizeof(url), "sqlite:%s/rekey.db", dir);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens");
	if (st != NULL)
		test_records(st);
	store_close(st);
	free(err);
	snprintf(db, sizeof(db), "%s/rekey.db", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/rekey.db-wal", dir);
	unlink(db);
	snprintf(db, sizeof(db), "%s/rekey.db-shm", dir);
	unlink(db);
	rmdir(dir);
	return tap_done();
}
