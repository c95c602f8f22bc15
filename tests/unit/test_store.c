/*
 * Unit tests: the store's state beside the journal: the worker's queue and
 * results, Graph subscriptions, users and user events, rotations, incidents
 * and their grants, per-app values; and that it all survives closing and
 * reopening.  Against SQLite, or against the PostgreSQL database named by
 * REKEY_TEST_STORE_URL (tests/run.sh runs it under tests/lib/pg.py run).
 */
#include "lib/secret.h"
#include "lib/util.h"
#include "state/store.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

/* The store's structs own their strings; the tests lend them literals. */
#define W(s) ((char *)(s))

static char dir[64], url[512];
static int pg;			/* against PostgreSQL (REKEY_TEST_STORE_URL) */

static void
add_event(struct store *st, const char *source, const char *id, const char *type)
{
	struct store_event ev = {
		.source = source, .app = "prod", .event_id = id, .type = type, .received_ms = 1000,
		.code = -1, .reauth_flag = -1, .event_time = -1, .grant_updated_at = -1,
		.body = "{\"x\":1}", .body_len = 7,
	};

	store_begin(st);
	store_add_event(st, &ev);
	store_commit(st);
}

/* The correlator reads the fields the intake parsed, and no body. */
static void
test_queue_fields(struct store *st)
{
	struct store_event ev = {
		.source = "nylas", .app = "prod", .event_id = "n2", .type = "grant.updated",
		.received_ms = 2000, .grant_id = "g-42", .email = "Ann@example.com",
		.provider = "microsoft", .code = 25027, .reauth_flag = 1, .event_time = -1,
		.grant_updated_at = -1, .body = "{\"y\":2}", .body_len = 7,
	};
	struct store_pending *p = NULL;
	size_t n = 0;

	store_begin(st);
	store_add_event(st, &ev);
	store_commit(st);
	TAP_OK(store_unprocessed(st, "nylas", 0, 10, 0, &p, &n) == 0 && n == 2,
	    "queue: the nylas events, without bodies");
	TAP_OK(n == 2 && p[0].body == NULL && p[0].grant_id == NULL && p[0].code == -1 &&
	    p[0].reauth_flag == -1, "queue: absent fields read as NULL and -1");
	TAP_OK(n == 2 && p[1].body == NULL && strcmp(p[1].grant_id, "g-42") == 0 &&
	    strcmp(p[1].email, "Ann@example.com") == 0 && strcmp(p[1].provider, "microsoft") == 0 &&
	    p[1].code == 25027 && p[1].reauth_flag == 1 && p[1].received_ms == 2000,
	    "queue: the grant fields parsed at intake are read back");
	store_pending_free(p, n);
}

/* A Graph batch's tokens: stored once under their digest, read back, pruned when old. */
static void
test_graph_tokens(struct store *st)
{
	char *out = NULL;
	size_t len = 0;

	TAP_OK(store_put_graph_tokens(st, "d1", "[\"a.b.c\"]", 9, 1000, 500) == 0 &&
	    store_put_graph_tokens(st, "d1", "[\"x\"]", 5, 1100, 500) == 0,
	    "tokens: stored, and a second time under the same digest");
	TAP_OK(store_get_graph_tokens(st, "d1", &out, &len) == 1 && len == 9 &&
	    strcmp(out, "[\"a.b.c\"]") == 0, "tokens: read back as first stored");
	free(out);
	TAP_OK(store_get_graph_tokens(st, "d2", &out, &len) == 0 && out == NULL,
	    "tokens: an unknown digest is 0");
	TAP_OK(store_put_graph_tokens(st, "d2", "[\"y\"]", 5, 2000, 500) == 0 &&
	    store_get_graph_tokens(st, "d1", &out, &len) == 0, "tokens: older sets are pruned");
	free(out);
}

/*
 * A store of schema 4 (no grant counters) is migrated with its incidents'
 * counts worked out, and counted from then on (i1: 2 grants, both back).
 */
static void
test_counts_migrated(void)
{
	static const char to_v4[] = "DROP TRIGGER incident_grant_listed;"
	    " DROP TRIGGER incident_grant_recovered; DROP TRIGGER incident_grant_removed;"
	    " ALTER TABLE incidents DROP COLUMN affected_grants;"
	    " ALTER TABLE incidents DROP COLUMN recovered_grants; DROP TABLE graph_tokens;"
	    " ALTER TABLE rotations DROP COLUMN test_ok; ALTER TABLE rotations DROP COLUMN test_since;"
	    " DROP INDEX events_unprocessed_other; PRAGMA user_version = 4;";
	struct store_incident got;
	struct store *st;
	char path[128], *err = NULL;
	sqlite3 *db = NULL;
	int back = 0;

	memset(&got, 0, sizeof(got));
	snprintf(path, sizeof(path), "%s/rekey.db", dir);
	back = sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_exec(db, to_v4, NULL, NULL, NULL) == SQLITE_OK;
	sqlite3_close(db);
	TAP_OK(back, "counts: the store is taken back to schema 4");
	st = store_open(url, &err);
	TAP_OK(st != NULL && store_get_incident(st, "i1", &got) == 1 && got.affected == 2 &&
	    got.recovered == 2, "counts: the migration works them out (%s)", err ? err : "ok");
	store_incident_clear(&got);
	TAP_OK(st != NULL && store_add_incident_grant(st, "i1", "g3", NULL, 90) == STORE_STORED &&
	    store_get_incident(st, "i1", &got) == 1 && got.affected == 3 && got.recovered == 2,
	    "counts: and then counts each new grant");
	if (st != NULL)
		store_incident_clear(&got);
	free(err);
	store_close(st);
}

static void
test_queue(struct store *st)
{
	struct store_pending *p = NULL;
	size_t n = 0;

	add_event(st, "graph", "g1", "change.updated");
	add_event(st, "nylas", "n1", "grant.expired");
	add_event(st, "graph", "g2", "lifecycle.missed");
	TAP_OK(store_unprocessed(st, "graph", 0, 10, 1, &p, &n) == 0 && n == 2,
	    "queue: two graph events unprocessed");
	TAP_OK(n == 2 && strcmp(p[0].event_id, "g1") == 0 && strcmp(p[1].type, "lifecycle.missed") == 0 &&
	    p[0].body_len == 7 && strcmp(p[0].body, "{\"x\":1}") == 0 && p[0].received_ms == 1000,
	    "queue: in order, with type, body and time");
	TAP_OK(n == 2 && store_mark_processed(st, p[0].id, "no_change") == 0, "queue: mark processed");
	store_pending_free(p, n);
	TAP_OK(store_unprocessed(st, "graph", 0, 10, 1, &p, &n) == 0 && n == 1 &&
	    strcmp(p[0].event_id, "g2") == 0, "queue: the processed one is gone");
	store_pending_free(p, n);
	TAP_OK(store_unprocessed(st, NULL, 0, 1, 1, &p, &n) == 0 && n == 1, "queue: max holds");
	store_pending_free(p, n);
	TAP_OK(store_count_results(st, "graph", "no_change") == 1 &&
	    store_count_results(st, NULL, NULL) == 1, "queue: results counted");
	test_queue_fields(st);
}

static void
test_subscriptions(struct store *st)
{
	struct store_subscription s = { .app = W("prod"), .id = W("sub-1"), .resource = W("/users"),
	    .notification_url = W("https://h/webhooks/graph/prod"), .expiration = 2000000000,
	    .created_at = 1800000000 }, got;

	TAP_OK(store_get_subscription(st, "prod", &got) == 0, "subscription: none at first");
	TAP_OK(store_put_subscription(st, &s) == 0, "subscription: put");
	s.id = W("sub-2");
	s.renewed_at = 1800000100;
	TAP_OK(store_put_subscription(st, &s) == 0, "subscription: replaced");
	TAP_OK(store_get_subscription(st, "prod", &got) == 1 && strcmp(got.id, "sub-2") == 0 &&
	    got.renewed_at == 1800000100 && got.expiration == 2000000000 &&
	    strcmp(got.notification_url, s.notification_url) == 0, "subscription: read back");
	store_subscription_clear(&got);
	TAP_OK(store_delete_subscription(st, "prod") == 0 &&
	    store_get_subscription(st, "prod", &got) == 0, "subscription: deleted");
}

static void
test_users(struct store *st)
{
	struct store_user u = { .app = W("prod"), .user_id = W("u1"), .mail = W("Ann@Example.com"),
	    .account_enabled = -1, .sessions_valid_from = 5, .updated_ms = 1 }, got;
	struct store_user_event ev = { .app = W("prod"), .user_id = "u1", .email = "Ann@Example.com",
	    .kind = "disabled", .observed_ms = 5000, .source_event = 1, .evidence = W("accountEnabled false") };
	char *kind, *evidence;
	int64_t at;

	TAP_OK(store_get_user(st, "prod", "u1", &got) == 0, "user: unknown at first");
	TAP_OK(store_put_user(st, &u) == 0 && store_get_user(st, "prod", "u1", &got) == 1 &&
	    got.account_enabled == -1 && got.sessions_valid_from == 5 && got.upn == NULL &&
	    strcmp(got.mail, "Ann@Example.com") == 0, "user: put and read back, unknowns kept");
	store_user_clear(&got);
	TAP_OK(store_add_user_event(st, &ev) == 0 && store_count_user_events(st, "prod", "disabled") == 1 &&
	    store_count_user_events(st, NULL, NULL) == 1 && store_count_user_events(st, "x", NULL) == 0,
	    "user event: added and counted");
	at = store_recent_user_event(st, "prod", "ann@example.COM", 4000, &kind, &evidence);
	TAP_OK(at == 5000 && kind && strcmp(kind, "disabled") == 0 && evidence &&
	    strcmp(evidence, "accountEnabled false") == 0, "user event: found by address, any case");
	free(kind);
	free(evidence);
	TAP_OK(store_recent_user_event(st, "prod", "ann@example.com", 6000, &kind, &evidence) == 0 &&
	    kind == NULL, "user event: none after since");
}

static void
test_rotations(struct store *st)
{
	unsigned char ct[3] = { 1, 0, 2 };
	struct store_rotation r = { .id = W("r1"), .app = W("prod"), .state = W("planned"),
	    .reason = W("manual"), .lifetime = 86400, .created_at = 10, .updated_at = 10 }, got;
	struct store_rotation *list = NULL;
	size_t n = 0;

	TAP_OK(store_put_rotation(st, &r) == 0, "rotation: put");
	r.id = W("r0");
	r.state = W("done");
	r.created_at = 5;
	TAP_OK(store_put_rotation(st, &r) == 0, "rotation: an older, finished one");
	TAP_OK(store_list_rotations(st, "prod", 1, 10, &list, &n) == 0 && n == 1 &&
	    strcmp(list[0].id, "r1") == 0, "rotation: unfinished only");
	store_rotations_free(list, n);
	TAP_OK(store_list_rotations(st, NULL, 0, 10, &list, &n) == 0 && n == 2 &&
	    strcmp(list[0].id, "r1") == 0, "rotation: all, newest first");
	store_rotations_free(list, n);
	r.id = W("r1");
	r.state = W("created");
	r.created_at = 10;
	r.secret_ct = ct;
	r.secret_ct_len = sizeof(ct);
	r.new_key_id = W("k2");
	r.last_error = W("HTTP 429");
	r.next_at = 99;
	TAP_OK(store_put_rotation(st, &r) == 0 && store_get_rotation(st, "r1", &got) == 1 &&
	    strcmp(got.state, "created") == 0 && got.secret_ct_len == 3 &&
	    memcmp(got.secret_ct, ct, 3) == 0 && strcmp(got.new_key_id, "k2") == 0 &&
	    got.next_at == 99 && strcmp(got.last_error, "HTTP 429") == 0 && got.lifetime == 86400,
	    "rotation: the whole row replaced and read back (binary secret too)");
	store_rotation_clear(&got);
	TAP_OK(store_get_rotation(st, "nope", &got) == 0, "rotation: unknown id");
}

static void
test_incidents(struct store *st)
{
	struct store_incident inc = { .id = W("i1"), .app = W("prod"), .cause = W("unknown"),
	    .state = W("open"),
	    .evidence = W("[\"burst\"]"), .opened_at = 100, .updated_at = 100 }, got;
	struct store_incident *list = NULL;
	int64_t pa[4], pr[4];
	size_t n = 0;

	TAP_OK(store_put_incident(st, &inc) == 0, "incident: put");
	TAP_OK(store_add_incident_grant(st, "i1", "g1", "a@x.com", 1) == STORE_STORED &&
	    store_add_incident_grant(st, "i1", "g2", "B@x.com", 2) == STORE_STORED &&
	    store_add_incident_grant(st, "i1", "g1", "a@x.com", 3) == STORE_DUPLICATE,
	    "incident: grants added once");
	TAP_OK(store_recover_grants(st, "prod", "g1", NULL, 50) == 1, "incident: recovered by grant id");
	TAP_OK(store_recover_grants(st, "prod", "zz", "b@X.com", 60) == 1, "incident: recovered by address");
	TAP_OK(store_recover_grants(st, "other", "g2", NULL, 60) == 0, "incident: other app untouched");
	TAP_OK(store_get_incident(st, "i1", &got) == 1 && got.affected == 2 && got.recovered == 2 &&
	    strcmp(got.evidence, "[\"burst\"]") == 0, "incident: counts read back");
	store_incident_clear(&got);
	/* Seen at 1 and 2, back at 50 and 60: counted by the end of each 20 ms step from 0. */
	TAP_OK(store_incident_progress(st, "i1", 0, 20, 4, pa, pr) == 0 && pa[0] == 2 &&
	    pa[3] == 2 && pr[0] == 0 && pr[1] == 0 && pr[2] == 1 && pr[3] == 2,
	    "incident: progress over time, summed up step by step");
	/* Earlier than since counts in the first point, later than the last step in the last. */
	TAP_OK(store_incident_progress(st, "i1", 30, 10, 2, pa, pr) == 0 && pa[0] == 2 &&
	    pa[1] == 2 && pr[0] == 0 && pr[1] == 2, "incident: progress clamped to its points");
	TAP_OK(store_incident_progress(st, "nope", 0, 10, 2, pa, pr) == 0 && pa[1] == 0 &&
	    pr[1] == 0, "incident: no grants, no progress");
	inc.state = W("resolved");
	inc.resolved_at = 70;
	store_put_incident(st, &inc);
	TAP_OK(store_list_incidents(st, "prod", 1, 10, &list, &n) == 0 && n == 0,
	    "incident: no open ones once resolved");
	store_incidents_free(list, n);
	TAP_OK(store_list_incidents(st, NULL, 0, 10, &list, &n) == 0 && n == 1 &&
	    list[0].resolved_at == 70, "incident: listed with all");
	store_incidents_free(list, n);
	TAP_OK(store_recover_grants(st, "prod", "g1", NULL, 80) == 0,
	    "incident: a resolved incident's grants are left alone");
}

/* The number of i's grants not recovered whose address is email (lower case). */
static size_t
unmailed(struct store *st, const char *incident, const char *email)
{
	char **emails = NULL;
	size_t n = 0, i, found = 0;

	if (store_unmailed_grants(st, incident, "reauth", 50, &emails, &n) == -1)
		return 999;
	for (i = 0; i < n; i++) {
		found += strcmp(emails[i], email) == 0;
		free(emails[i]);
	}
	free(emails);
	return found;
}

/*
 * A batch's listings in one call: results in order, a repeat within the
 * call and a grant listed before it are duplicates, two incidents at once,
 * and grant ids that an array literal would misread (comma, quote,
 * backslash, braces, the word NULL) kept as they are.
 */
static void
test_batched_grants(struct store *st)
{
	static const char *const odd[] = { "g,1", "g\"2", "g\\3", "{g4}", "NULL", " g 6 " };
	struct store_incident inc = { .id = W("b1"), .app = W("batch"), .cause = W("unknown"),
	    .state = W("open"), .evidence = W("[]"), .opened_at = 100, .updated_at = 100 }, got;
	struct store_incident_grant g[10];
	enum store_result r[10];
	size_t i;
	int ok;

	store_put_incident(st, &inc);
	inc.id = W("b2");
	store_put_incident(st, &inc);
	store_add_incident_grant(st, "b1", "before", NULL, 1);
	memset(g, 0, sizeof(g));
	for (i = 0; i < 6; i++) {
		g[i].incident_id = "b1";
		g[i].grant_id = odd[i];
		g[i].seen_ms = 10 + (int64_t)i;
	}
	g[1].email = "Odd@Example.com";
	g[6] = (struct store_incident_grant){ "b1", "g,1", "x@example.com", 20 };
	g[7] = (struct store_incident_grant){ "b2", "g,1", "y@example.com", 21 };
	g[8] = (struct store_incident_grant){ "b1", "before", NULL, 22 };
	g[9] = (struct store_incident_grant){ "b2", "g,1", NULL, 23 };
	memset(r, 0xff, sizeof(r));
	store_begin(st);
	ok = store_add_incident_grants(st, g, 10, r) == 0;
	store_commit(st);
	TAP_OK(ok, "batched grants: ten in one call");
	for (i = 0; i < 6 && r[i] == STORE_STORED; i++)
		;
	TAP_OK(i == 6 && r[7] == STORE_STORED, "batched grants: the new ones stored, in order");
	TAP_OK(r[6] == STORE_DUPLICATE && r[8] == STORE_DUPLICATE && r[9] == STORE_DUPLICATE,
	    "batched grants: a repeat in the call and one listed before are duplicates");
	TAP_OK(store_get_incident(st, "b1", &got) == 1 && got.affected == 7,
	    "batched grants: counted in their incident (7 in b1)");
	store_incident_clear(&got);
	TAP_OK(store_get_incident(st, "b2", &got) == 1 && got.affected == 1,
	    "batched grants: and in the other (1 in b2)");
	store_incident_clear(&got);
	for (i = 0; i < 6; i++)
		if (store_add_incident_grant(st, "b1", odd[i], NULL, 30) != STORE_DUPLICATE)
			break;
	TAP_OK(i == 6, "batched grants: odd ids stored as they are (each one a duplicate now)");
	TAP_OK(unmailed(st, "b1", "odd@example.com") == 1 &&
	    unmailed(st, "b2", "y@example.com") == 1 && unmailed(st, "b1", "x@example.com") == 0,
	    "batched grants: each with its own address");
	TAP_OK(store_add_incident_grants(st, g, 0, r) == 0, "batched grants: none is a no-op");
	/* One UPDATE recovering a grant in both incidents: each counts its own. */
	TAP_OK(store_recover_grants(st, "batch", "g,1", NULL, 40) == 2,
	    "batched grants: one grant recovered in two incidents at once");
	TAP_OK(store_get_incident(st, "b1", &got) == 1 && got.affected == 7 && got.recovered == 1,
	    "batched grants: b1 counts 1 of 7 recovered");
	store_incident_clear(&got);
	TAP_OK(store_get_incident(st, "b2", &got) == 1 && got.affected == 1 && got.recovered == 1,
	    "batched grants: b2 counts 1 of 1 recovered");
	store_incident_clear(&got);
	TAP_OK(store_recover_grants(st, "batch", "g,1", NULL, 50) == 0 &&
	    store_get_incident(st, "b1", &got) == 1 && got.recovered == 1,
	    "batched grants: recovered again, counted once");
	store_incident_clear(&got);
}

/* A batch's events marked processed in one call, each with its own result. */
static void
test_batched_marks(struct store *st)
{
	static const char *const results[] = { "incident", "already_listed", "we\"ird,{}" };
	struct store_pending *p = NULL;
	int64_t ids[3];
	size_t n = 0, i, k = 0;
	int ok;

	add_event(st, "nylas", "m1", "grant.expired");
	add_event(st, "nylas", "m2", "grant.expired");
	add_event(st, "nylas", "m3", "grant.expired");
	add_event(st, "nylas", "m4", "grant.expired");
	store_unprocessed(st, "nylas", 0, 50, 0, &p, &n);
	for (i = 0; i < n && k < 3; i++)
		if (strncmp(p[i].event_id, "m", 1) == 0)
			ids[k++] = p[i].id;
	store_pending_free(p, n);
	store_begin(st);
	ok = k == 3 && store_mark_processed_many(st, ids, results, 3) == 0;
	store_commit(st);
	TAP_OK(ok, "batched marks: three in one call");
	TAP_OK(store_count_results(st, "nylas", "incident") == 1 &&
	    store_count_results(st, "nylas", "already_listed") == 1 &&
	    store_count_results(st, "nylas", "we\"ird,{}") == 1,
	    "batched marks: each event with its own result");
	p = NULL;
	n = k = 0;
	store_unprocessed(st, "nylas", 0, 50, 0, &p, &n);
	for (i = 0; i < n; i++)
		k += strncmp(p[i].event_id, "m", 1) == 0;
	TAP_OK(k == 1 && n > 0 && strcmp(p[n - 1].event_id, "m4") == 0,
	    "batched marks: only the one left out is still queued");
	store_pending_free(p, n);
	TAP_OK(store_mark_processed_many(st, ids, results, 0) == 0,
	    "batched marks: none is a no-op");
}

static void
test_values(struct store *st)
{
	char *v = NULL;

	TAP_OK(store_get_value(st, "prod", "k", &v) == 0 && v == NULL, "value: absent");
	TAP_OK(store_put_value(st, "prod", "k", "1") == 0 && store_put_value(st, "prod", "k", "2") == 0 &&
	    store_get_value(st, "prod", "k", &v) == 1 && strcmp(v, "2") == 0, "value: replaced");
	free(v);
}

static void
test_list_values(struct store *st)
{
	struct store_value *v = NULL;
	size_t n = 0, i, found;

	store_put_value(st, "prod", "warned:k1:86400", "a");
	store_put_value(st, "prod", "warned:k1:604800", "b");
	store_put_value(st, "prod", "warnedx", "c");
	store_put_value(st, "other", "warned:k2:1", "d");
	TAP_OK(store_list_values(st, "prod", "warned:", 10, &v, &n) == 0 && n == 2,
	    "values: listed by prefix, per app (%zu)", n);
	store_values_free(v, n);
	TAP_OK(store_list_values(st, "prod", "warned:", 1, &v, &n) == 0 && n == 1,
	    "values: at most max");
	store_values_free(v, n);
	TAP_OK(store_list_values(st, "prod", "%", 10, &v, &n) == 0 && n == 0,
	    "values: the prefix is not a LIKE pattern");
	store_values_free(v, n);
	TAP_OK(store_list_values(st, NULL, "warned:", 10, &v, &n) == 0 && n == 3,
	    "values: of every app (%zu)", n);
	for (i = 0, found = 0; i < n; i++)
		found += strcmp(v[i].app, strcmp(v[i].key, "warned:k2:1") == 0 ? "other" : "prod") == 0;
	TAP_OK(found == 3, "values: each with its app (%zu of 3)", found);
	store_values_free(v, n);
}

static struct store_outbox
outbox_row(const char *ref, const char *kind, const char *to, const char *channel)
{
	struct store_outbox m = { .app = W("prod"), .kind = W(kind), .ref = W(ref),
	    .channel = W(channel), .recipient = W(to), .msg_id = W("msg_1"), .subject = W("s"),
	    .payload = W("{\"x\":1}"), .payload_len = 7, .created_at = 5 };

	return m;
}

static void
test_outbox(struct store *st)
{
	struct store_outbox a = outbox_row("inc1", "incident_opened", "a@x.com", "email");
	struct store_outbox b = outbox_row("inc1", "incident_opened", "slack", "slack");
	struct store_outbox *due = NULL;
	struct store_outbox_stats stats;
	char **emails = NULL;
	size_t n = 0, i;

	TAP_OK(store_add_outbox(st, &a) == STORE_STORED && store_add_outbox(st, &b) == STORE_STORED,
	    "outbox: two rows");
	{
		struct store_incident inc = { .id = W("inc-r"), .app = W("prod"), .cause = W("unknown"),
		    .state = W("resolved"), .resolved_by = W("operator"), .opened_at = 1,
		    .updated_at = 2, .resolved_at = 2 }, got;

		store_put_incident(st, &inc);
		inc.state = W("open");
		inc.resolved_by = NULL;
		inc.cause = W("secret_expired");
		TAP_OK(store_put_incident(st, &inc) == 0 && store_get_incident(st, "inc-r", &got) == 1 &&
		    strcmp(got.state, "resolved") == 0 && strcmp(got.cause, "unknown") == 0 &&
		    store_incident_is_open(st, "inc-r") == 0,
		    "incident: a resolved incident is never written back as open");
		store_incident_clear(&got);
		inc.id = W("inc-o");
		store_put_incident(st, &inc);
		TAP_OK(store_resolve_incident(st, "inc-o", "operator", 9) == 1 &&
		    store_resolve_incident(st, "inc-o", "operator", 10) == 0 &&
		    store_resolve_incident(st, "nope", "operator", 10) == 0 &&
		    store_get_incident(st, "inc-o", &got) == 1 && got.resolved_at == 9 &&
		    strcmp(got.resolved_by, "operator") == 0 && strcmp(got.cause, "secret_expired") == 0,
		    "incident: resolved in one statement, once, keeping the rest of the row");
		store_incident_clear(&got);
	}
	TAP_OK(store_add_outbox(st, &a) == STORE_DUPLICATE,
	    "outbox: the same (ref, kind, recipient, channel) is stored once");
	TAP_OK(store_outbox_exists(st, "inc1", "incident_opened") == 1 &&
	    store_outbox_exists(st, "inc1", "incident_resolved") == 0, "outbox: exists by ref and kind");
	TAP_OK(store_due_outbox(st, 10, 10, &due, &n) == 0 && n == 2 &&
	    strcmp(due[0].state, "pending") == 0 && due[0].payload_len == 7 &&
	    strcmp(due[0].payload, "{\"x\":1}") == 0, "outbox: both due, payload read back");
	if (n == 2) {
		free(due[0].state);
		due[0].state = strdup("sending");
		due[0].attempts = 1;
		TAP_OK(store_update_outbox(st, &due[0]) == 0, "outbox: marked sending");
		free(due[1].state);
		due[1].state = strdup("pending");
		due[1].attempts = 1;
		due[1].next_at = 1000;
		due[1].last_error = strdup("HTTP 500");
		store_update_outbox(st, &due[1]);
	}
	store_outboxes_free(due, n);
	TAP_OK(store_due_outbox(st, 10, 10, &due, &n) == 0 && n == 1 && due[0].attempts == 1 &&
	    strcmp(due[0].state, "sending") == 0,
	    "outbox: a row left sending is due again (sent again after a crash); the retry waits");
	store_outboxes_free(due, n);
	TAP_OK(store_outbox_stats(st, "prod", &stats) == 0 && stats.pending == 2 && stats.sent == 0 &&
	    stats.last_error != NULL && strcmp(stats.last_error, "HTTP 500") == 0 &&
	    stats.last_error_at == 1000, "outbox: stats show the pending rows and the last error");
	free(stats.last_error);

	store_add_incident_grant(st, "inc9", "g1", "One@x.com", 1);
	store_add_incident_grant(st, "inc9", "g2", "one@X.com", 1);
	store_add_incident_grant(st, "inc9", "g3", "two@x.com", 1);
	store_add_incident_grant(st, "inc9", "g4", NULL, 1);
	a = outbox_row("inc9", "user_reauth", "two@x.com", "email");
	store_add_outbox(st, &a);
	TAP_OK(store_unmailed_grants(st, "inc9", "user_reauth", 10, &emails, &n) == 0 && n == 2 &&
	    strcmp(emails[0], "one@x.com") == 0 && strcmp(emails[1], "one@x.com") == 0,
	    "outbox: unmailed grants in lower case (one address per grant), the mailed one left out");
	for (i = 0; i < n; i++)
		free(emails[i]);
	free(emails);
}

/* A read transaction sees one snapshot: another connection's commit shows after it. */
static void
test_read_snapshot(struct store *st)
{
	struct store *other;
	char *err = NULL;
	int64_t before, during, after;

	other = store_open(url, &err);
	TAP_OK(other != NULL, "read snapshot: a second connection opens (%s)", err ? err : "ok");
	if (other == NULL)
		return;
	before = store_count_events(st, NULL);
	TAP_OK(store_begin_read(st) == 0, "read snapshot: begins");
	TAP_OK(store_count_events(st, NULL) == before, "read snapshot: reads inside it");
	add_event(other, "nylas", "snap-1", "grant.expired");
	during = store_count_events(st, NULL);
	TAP_OK(store_commit(st) == 0, "read snapshot: ends with store_commit");
	after = store_count_events(st, NULL);
	TAP_OK(during == before && after == before + 1,
	    "read snapshot: the other's commit is seen after it, not during (%lld, %lld, %lld)",
	    (long long)before, (long long)during, (long long)after);
	store_close(other);
}

/*
 * PostgreSQL: the password comes from [store] password_file's secret (not
 * from PGPASSFILE, which is taken away), and a wrong one is an error that
 * names the store but never the password.
 */
static int
use_pg_password(void)
{
	const char *file = getenv("REKEY_TEST_PG_PASSWORD_FILE");
	struct secret *pw, *wrong = secret_new("not-the-password", 16);
	struct store *st;
	char *err = NULL;

	if (file == NULL || (pw = secret_read_file(file, &err)) == NULL)
		return -1;
	unsetenv("PGPASSFILE");
	store_set_password(wrong);
	st = store_open(url, &err);
	TAP_OK(st == NULL && err != NULL && strstr(err, "cannot connect to the store") != NULL &&
	    strstr(err, "not-the-password") == NULL && strstr(err, (char *)pw->data) == NULL,
	    "pg: a wrong password is refused, the error shows no password (%s)", err ? err : "");
	store_close(st);
	free(err);
	store_set_password(pw);
	secret_free(pw);
	secret_free(wrong);
	return 0;
}

/* Runs sql with psql as the superuser (REKEY_TEST_PG_SOCKET_URL): 0 or -1. */
static int
pg_sql(const char *sql)
{
	const char *su = getenv("REKEY_TEST_PG_SOCKET_URL");
	char cmd[1024];

	if (su == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "psql -X -q -v ON_ERROR_STOP=1 -d '%s' -c \"%s\"", su, sql);
	return system(cmd) == 0 ? 0 : -1;
}

/*
 * PostgreSQL: a second open finds the schema current; the fence refuses the
 * engines' writes of a connection whose epoch is below the leadership row's,
 * never an event's insert nor a connection without an epoch.
 */
static void
test_pg_session(struct store *st)
{
	char *err = NULL;
	struct store *again = store_open(url, &err);
	struct store_event ev = {
		.source = "nylas", .app = "prod", .event_id = "fenced-1", .type = "grant.expired",
		.received_ms = 1, .code = -1, .reauth_flag = -1, .event_time = -1,
		.grant_updated_at = -1, .body = "{}", .body_len = 2,
	};

	TAP_OK(again != NULL, "pg: a second open finds the schema current (%s)", err ? err : "ok");
	free(err);
	if (again == NULL)
		return;
	TAP_OK(pg_sql("UPDATE leadership SET epoch = 7 WHERE id = 1") == 0 &&
	    store_set_epoch(st, 6) == 0, "pg: a connection takes epoch 6 while the leader's is 7");
	TAP_OK(store_put_value(st, "prod", "fenced", "x") == -1,
	    "pg: fence: a stale leader's write is refused");
	TAP_OK(store_begin(st) == 0 && store_add_event(st, &ev) == STORE_STORED &&
	    store_commit(st) == 0, "pg: fence: inserting an event is never fenced");
	TAP_OK(store_put_value(again, "prod", "fenced", "y") == 0,
	    "pg: fence: a connection without an epoch is not fenced");
	TAP_OK(store_set_epoch(st, 7) == 0 && store_put_value(st, "prod", "fenced", "z") == 0,
	    "pg: fence: the current epoch writes");
	pg_sql("UPDATE leadership SET epoch = 0 WHERE id = 1");
	/* Migration 2: events vacuumed after a few thousand changes (the queue's scans stay fast). */
	TAP_OK(pg_sql("DO \\$\\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'events'"
	    " AND 'autovacuum_vacuum_threshold=2000' = ANY (reloptions)) THEN RAISE 'not set';"
	    " END IF; END \\$\\$") == 0, "pg: events are vacuumed after a few thousand changes");
	store_close(again);
}

/* Milliseconds a pipelined write to the row held by holder takes to fail on st. */
static int64_t
blocked_write_ms(struct store *st, int *committed)
{
	int64_t start = util_mono_us();

	*committed = store_begin(st) == 0 && store_put_value(st, "prod", "held", "b") == 0 &&
	    store_commit(st) == 0;
	if (!*committed)
		store_rollback(st);
	return (util_mono_us() - start) / 1000;
}

/*
 * PostgreSQL, a pipelining connection (the journal's writer): the lock wait
 * asked for holds with the next transaction, and again after a transaction
 * that set it was rolled back (which undid it on the server).
 */
static void
test_pg_pipelined_settings(void)
{
	char *err = NULL;
	struct store *st = store_open(url, &err), *holder = store_open(url, &err);
	int committed = 0;
	int64_t ms;

	TAP_OK(st != NULL && holder != NULL, "pg: two more connections (%s)", err ? err : "ok");
	free(err);
	if (st == NULL || holder == NULL)
		goto out;
	store_defer_writes(st);
	store_put_value(holder, "prod", "held", "a");
	store_begin(holder);
	store_put_value(holder, "prod", "held", "h");
	store_lock_wait(st, 300);
	ms = blocked_write_ms(st, &committed);
	TAP_OK(!committed && ms >= 250 && ms < 2000,
	    "pg: pipelined: a write behind a row lock fails after the wait asked for (%lld ms)",
	    (long long)ms);
	/* That transaction, which set the wait, was rolled back: it must be set again. */
	ms = blocked_write_ms(st, &committed);
	TAP_OK(!committed && ms >= 250 && ms < 2000,
	    "pg: pipelined: and again after the rollback undid it (%lld ms)", (long long)ms);
	store_rollback(holder);
	ms = blocked_write_ms(st, &committed);
	TAP_OK(committed && ms < 2000, "pg: pipelined: the row let go, the write commits");
out:
	store_close(holder);
	store_close(st);
}

int
main(void)
{
	struct store *st;
	char *err = NULL, *v = NULL;
	const char *env = getenv("REKEY_TEST_STORE_URL");
	struct store_rotation r;

	snprintf(dir, sizeof(dir), "/tmp/rekey-store-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	pg = env != NULL && strncmp(env, "postgres", 8) == 0;
	if (pg) {
		snprintf(url, sizeof(url), "%s", env);
		if (use_pg_password() == -1)
			return 1;
	} else {
		snprintf(url, sizeof(url), "sqlite:%s/rekey.db", dir);
	}
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens and migrates (%s)", err ? err : "ok");
	if (st == NULL)
		return tap_done();
	test_queue(st);
	test_subscriptions(st);
	test_users(st);
	test_rotations(st);
	test_incidents(st);
	test_batched_grants(st);
	test_batched_marks(st);
	test_values(st);
	test_list_values(st);
	test_outbox(st);
	test_read_snapshot(st);
	test_graph_tokens(st);
	TAP_OK(store_relax_durability(st) == 0, "relaxed durability can be asked for");
	if (pg) {
		test_pg_session(st);
		test_pg_pipelined_settings();
	}
	store_close(st);
	/* Taking a store back to schema 4 is SQLite's history; PostgreSQL starts at its version 1. */
	if (!pg)
		test_counts_migrated();
	st = store_open(url, &err);
	TAP_OK(st != NULL && store_get_value(st, "prod", "k", &v) == 1 &&
	    store_get_rotation(st, "r1", &r) == 1, "everything is there after reopening");
	free(v);
	if (st != NULL)
		store_rotation_clear(&r);
	store_close(st);
	snprintf(url, sizeof(url), "rm -rf %s", dir);
	if (system(url) != 0)
		return 1;
	return tap_done();
}
