/*
 * Unit tests: the rotation contract on a temporary SQLite store: state
 * names, planning (one unfinished rotation per app; approve and dry-run
 * modes), approval, and which secret Nylas uses (by the hint of
 * current_secret_file, or the last published rotation).
 */
#include "engine/rotation_in_use.h"
#include "lib/crypto.h"
#include "lib/secret.h"
#include "outbound/graph.h"
#include "state/config.h"
#include "state/rotation.h"
#include "state/store.h"
#include "tap.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define W(s) ((char *)(s))

static const char *const names[] = {
	"planned", "creating", "created", "testing", "tested", "publishing", "published",
	"watching", "rolling_back", "retiring", "retired", "done", "failed",
};

static void
test_names(void)
{
	enum rotation_state s;
	size_t i;
	int ok = 1;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(rotation_state_name((enum rotation_state)i), names[i]) != 0 ||
		    rotation_state_parse(names[i], &s) == -1 || s != (enum rotation_state)i)
			ok = 0;
	}
	TAP_OK(ok, "every state has the contract's name and parses back");
	TAP_OK(rotation_state_parse("finished", &s) == -1, "an unknown name does not parse");
	TAP_OK(rotation_state_parse(NULL, &s) == -1, "NULL does not parse");
	TAP_STR_EQ(rotation_state_name((enum rotation_state)99), "unknown", "out of range: unknown");
}

static void
set_state(struct store *st, const char *id, const char *state)
{
	struct store_rotation r;

	if (store_get_rotation(st, id, &r) != 1)
		return;
	free(r.state);
	r.state = xstrdup(state);
	store_put_rotation(st, &r);
	store_rotation_clear(&r);
}

static void
test_plan(struct store *st)
{
	struct config_app app = { .name = W("prod"), .rotation_mode = ROTATION_MODE_AUTO,
	    .secret_lifetime = 180 * 86400 };
	char id[ROTATION_ID_SIZE], id2[ROTATION_ID_SIZE], *err = NULL;
	struct store_rotation r;

	TAP_OK(rotation_plan(st, &app, "manual", NULL, 0, id, &err) == 0, "plan: planned");
	TAP_OK(strlen(id) == 36, "plan: the id is a GUID (%s)", id);
	TAP_OK(store_get_rotation(st, id, &r) == 1, "plan: stored");
	TAP_OK(strcmp(r.state, "planned") == 0 && strcmp(r.reason, "manual") == 0 && r.approved &&
	    !r.dry_run && r.lifetime == 180 * 86400, "plan: planned, manual, approved in auto mode, "
	    "lifetime from the config");
	store_rotation_clear(&r);
	TAP_OK(rotation_plan(st, &app, "incident", "inc-1", 0, id2, &err) == 1 &&
	    strcmp(id, id2) == 0, "plan: a second plan names the unfinished one");
	set_state(st, id, "publishing");
	TAP_OK(rotation_plan(st, &app, "incident", "inc-1", 0, id2, &err) == 1 &&
	    strcmp(id, id2) == 0, "plan: also while it is in flight");
	set_state(st, id, "done");

	app.rotation_mode = ROTATION_MODE_APPROVE;
	TAP_OK(rotation_plan(st, &app, "incident", "inc-1", 0, id2, &err) == 0 &&
	    strcmp(id, id2) != 0, "plan: a new one once the last is done");
	TAP_OK(store_get_rotation(st, id2, &r) == 1 && !r.approved && r.incident_id != NULL &&
	    strcmp(r.incident_id, "inc-1") == 0, "plan: approve mode waits for approval");
	store_rotation_clear(&r);
	TAP_OK(rotation_approve(st, id2, &err) == 0, "approve: planned -> approved");
	TAP_OK(store_get_rotation(st, id2, &r) == 1 && r.approved &&
	    strcmp(r.state, "planned") == 0, "approve: stored, still planned for the rotator");
	store_rotation_clear(&r);
	TAP_OK(rotation_approve(st, id2, &err) == 0, "approve: twice is harmless");
	TAP_OK(rotation_approve(st, "no-such-id", &err) == -1 && strstr(err, "no rotation") != NULL,
	    "approve: an unknown id is refused (%s)", err);
	free(err);
	err = NULL;
	set_state(st, id2, "creating");
	TAP_OK(rotation_approve(st, id2, &err) == -1 && strstr(err, "not planned") != NULL,
	    "approve: only a planned rotation (%s)", err);
	free(err);
	err = NULL;
	set_state(st, id2, "failed");

	app.rotation_mode = ROTATION_MODE_DRY_RUN;
	TAP_OK(rotation_plan(st, &app, "proactive", NULL, 0, id, &err) == 0 &&
	    store_get_rotation(st, id, &r) == 1 && r.dry_run && r.approved,
	    "plan: dry-run mode makes a dry run");
	store_rotation_clear(&r);
	set_state(st, id, "done");
	app.rotation_mode = ROTATION_MODE_AUTO;
	TAP_OK(rotation_plan(st, &app, "manual", NULL, 1, id, &err) == 0 &&
	    store_get_rotation(st, id, &r) == 1 && r.dry_run, "plan: --dry-run in auto mode");
	store_rotation_clear(&r);
	set_state(st, id, "done");
}

static struct graph_password
pw(const char *key, const char *hint)
{
	struct graph_password p = { .key_id = W(key), .hint = W(hint), .display_name = W("x"),
	    .end = 1900000000 };

	return p;
}

/* A sealed text moved to a row of another app, rotation or key no longer opens. */
static void
test_binding(struct store *st, const struct config *cfg, const char *id)
{
	struct store_rotation r;
	struct secret *s;
	char *saved;

	if (store_get_rotation(st, id, &r) != 1) {
		TAP_OK(0, "binding: the row reads back");
		return;
	}
	s = rotation_unseal(cfg->master_key, &r);
	TAP_OK(s != NULL && secret_equal(s, "new8Q~published", 15), "binding: opens on its own row");
	secret_free(s);
	saved = r.app;
	r.app = (char *)"another";
	TAP_OK(rotation_unseal(cfg->master_key, &r) == NULL, "binding: not as another app's");
	r.app = saved;
	saved = r.new_key_id;
	r.new_key_id = (char *)"k-other";
	TAP_OK(rotation_unseal(cfg->master_key, &r) == NULL, "binding: not as another key's");
	r.new_key_id = saved;
	saved = r.id;
	r.id = (char *)"11111111-aaaa-bbbb-cccc-000000000002";
	TAP_OK(rotation_unseal(cfg->master_key, &r) == NULL, "binding: not as another rotation's");
	r.id = saved;
	store_rotation_clear(&r);
}

static void
test_in_use(struct store *st)
{
	struct secret *cur = secret_new("abc8Q~secret", 12), *s;
	unsigned char key[32];
	struct config cfg = { 0 };
	struct config_app app = { .name = W("other"), .rotation_mode = ROTATION_MODE_AUTO };
	struct config_app *app_p = &app;
	struct graph_password list[3] = { pw("k1", "abc"), pw("k2", "xyz"), pw("k3", "xyz") };
	struct graph_application a = { .id = W("oid"), .passwords = list, .n_passwords = 2 };
	struct store_rotation r = { 0 };
	const char *why = NULL, *source = NULL;
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	char *k;

	memset(key, 7, sizeof(key));
	cfg.master_key = secret_new(key, sizeof(key));
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_OK(k == NULL && why != NULL && strstr(why, "no current_secret_file") != NULL,
	    "in use: unknown without current_secret_file or a published rotation (%s)", why);
	TAP_OK(rotation_in_use_secret(st, &cfg, &app, &source) == NULL && source == NULL,
	    "in use: no secret either");

	app.current_secret = cur;
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_STR_EQ(k, "k1", "in use: the one credential whose hint matches current_secret_file");
	free(k);
	s = rotation_in_use_secret(st, &cfg, &app, &source);
	TAP_OK(s != NULL && secret_equal(s, "abc8Q~secret", 12) &&
	    strcmp(source, "current_secret_file") == 0, "in use: the secret is current_secret_file's");
	secret_free(s);

	list[0].hint = W("zzz");
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_OK(k == NULL && strstr(why, "no credential") != NULL, "in use: no hint matches (%s)", why);
	list[0].hint = W("abc");
	list[1].hint = W("abc");
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_OK(k == NULL && strstr(why, "several") != NULL, "in use: ambiguous hint (%s)", why);

	/* A published rotation wins over current_secret_file while its key is listed. */
	r.id = W("11111111-aaaa-bbbb-cccc-000000000001");
	r.app = W("other");
	r.state = W("retiring");
	r.reason = W("manual");
	r.approved = 1;
	r.new_key_id = W("k3");
	r.created_at = r.updated_at = r.published_at = 1000;
	/* Sealed as rekey did before the binding: the rotation id alone as associated data. */
	TAP_OK(crypto_aead_seal(key, r.id, strlen(r.id), "new8Q~published", 15, &ct, &ctlen) == 0,
	    "seal a published secret the old way");
	r.secret_ct = ct;
	r.secret_ct_len = ctlen;
	TAP_OK(store_put_rotation(st, &r) == 0, "a published rotation stored");
	free(ct);
	a.n_passwords = 3;
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_STR_EQ(k, "k3", "in use: the last published rotation's key");
	free(k);
	s = rotation_in_use_secret(st, &cfg, &app, &source);
	TAP_OK(s != NULL && strcmp(source, "current_secret_file") == 0,
	    "seal: a row sealed the old way does not open as it is");
	secret_free(s);
	cfg.apps = &app_p;
	cfg.n_apps = 1;
	TAP_OK(rotation_reseal_legacy(st, &cfg) == 1, "seal: the old row is sealed again, bound");
	TAP_OK(rotation_reseal_legacy(st, &cfg) == 0, "seal: and only once");
	test_binding(st, &cfg, r.id);
	s = rotation_in_use_secret(st, &cfg, &app, &source);
	TAP_OK(s != NULL && secret_equal(s, "new8Q~published", 15) &&
	    strcmp(source, "the last published rotation") == 0,
	    "in use: its secret, unsealed with the master key");
	secret_free(s);
	a.n_passwords = 2;	/* k3 gone from Graph: back to the hint (now ambiguous) */
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_OK(k == NULL, "in use: a published key no longer listed does not count");
	list[1].hint = W("xyz");
	k = rotation_in_use_key(st, &app, &a, &why);
	TAP_STR_EQ(k, "k1", "in use: then the hint decides");
	free(k);

	memset(key, 8, sizeof(key));
	secret_free(cfg.master_key);
	cfg.master_key = secret_new(key, sizeof(key));
	s = rotation_in_use_secret(st, &cfg, &app, &source);
	TAP_OK(s != NULL && strcmp(source, "current_secret_file") == 0,
	    "in use: a wrong master key falls back to current_secret_file");
	secret_free(s);
	secret_free(cfg.master_key);
	secret_free(cur);
}

/* The failure streak a rotation ends: failed ones just before it, dry runs skipped. */
static void
test_failed_before(void)
{
	struct store_rotation l[6];
	static const char *const st[] = { "done", "failed", "failed", "done", "failed", "failed" };
	size_t i;

	memset(l, 0, sizeof(l));
	for (i = 0; i < 6; i++)
		l[i].state = W(st[i]);
	l[2].dry_run = 1;	/* a dry run between two failures does not end the streak */
	l[2].state = W("done");
	TAP_OK(rotation_failed_before(l, 6, 0) == 1, "done after failed, dry run, failed... "
	    "(newest first): the streak stops at the done one before");
	l[3].state = W("failed");
	TAP_OK(rotation_failed_before(l, 6, 0) == 4, "a longer streak is counted to the oldest");
	TAP_OK(rotation_failed_before(l, 6, 5) == 0, "the oldest rotation ends no streak");
	l[1].state = W("done");
	TAP_OK(rotation_failed_before(l, 6, 0) == 0, "done after done: no streak");
	TAP_OK(rotation_failed_before(l, 1, 0) == 0, "a first rotation: no streak");
}

/* The burst recorded for a watching rotation is that rotation's only. */
static void
test_burst(struct store *st)
{
	int64_t at = 0;
	int n = 0;

	TAP_OK(rotation_burst_get(st, "prod", "r-1", &at, &n) == 0, "no burst recorded: none");
	TAP_OK(rotation_burst_put(st, "prod", "r-1", 1700000000123LL, 5) == 0, "a burst is recorded");
	TAP_OK(rotation_burst_get(st, "prod", "r-1", &at, &n) == 1 && at == 1700000000123LL &&
	    n == 5, "and read back for its rotation");
	TAP_OK(rotation_burst_get(st, "prod", "r-2", &at, &n) == 0, "another rotation has none");
	TAP_OK(rotation_burst_get(st, "other", "r-1", &at, &n) == 0, "nor another app");
}

int
main(void)
{
	char dir[64], url[128], *err = NULL;
	struct store *st;

	test_names();
	test_failed_before();
	snprintf(dir, sizeof(dir), "/tmp/rekey-rotation-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(url, sizeof(url), "sqlite:%s/rekey.db", dir);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens (%s)", err ? err : "ok");
	if (st == NULL)
		return tap_done();
	test_plan(st);
	test_in_use(st);
	test_burst(st);
	store_close(st);
	snprintf(url, sizeof(url), "rm -rf %s", dir);
	if (system(url) != 0)
		return 1;
	return tap_done();
}
