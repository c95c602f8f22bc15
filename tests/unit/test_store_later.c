/*
 * store_add_incident_grants_later on SQLite (store_sqlite_later.c): a grant
 * waits, durably, until a flush lists it; meanwhile it already counts as
 * listed; a rollback forgets what its transaction added; a crash (a close
 * without a flush) leaves the grants for the next connection, which lists
 * them; a grant listed meanwhile by another connection is listed once; once
 * 4,096 or more wait, the call lists them, inside its transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tmpdir.h"
#include "lib/util.h"
#include "state/store.h"

#define W(s) ((char *)(s))

static int64_t
affected(struct store *st, const char *id)
{
	struct store_incident got;
	int64_t n = -1;

	if (store_get_incident(st, id, &got) == 1) {
		n = got.affected;
		store_incident_clear(&got);
	}
	return n;
}

static void
put_incident(struct store *st, const char *id)
{
	struct store_incident inc = { .id = W(id), .app = W("prod"), .cause = W("secret_expired"),
	    .state = W("open"), .evidence = W("[]"), .opened_at = 1, .updated_at = 1 };

	TAP_OK(store_put_incident(st, &inc) == 0, "incident %s put", id);
}

/* grants g<from>..g<from+n-1> of inc, in one transaction; 0 or -1. */
static int
later(struct store *st, const char *inc, int from, int n, enum store_result *r, int commit)
{
	struct store_incident_grant *g = calloc((size_t)n, sizeof(*g));
	char (*ids)[32] = calloc((size_t)n, sizeof(*ids));
	int i, rc;

	for (i = 0; i < n; i++) {
		snprintf(ids[i], sizeof(ids[i]), "g%d", from + i);
		g[i].incident_id = inc;
		g[i].grant_id = ids[i];
		g[i].email = "u@example.com";
		g[i].seen_ms = 1000 + from + i;
	}
	rc = store_begin(st);
	if (rc == 0)
		rc = store_add_incident_grants_later(st, g, (size_t)n, r);
	if (rc == 0 && commit)
		rc = store_commit(st);
	else
		store_rollback(st);
	free(ids);
	free(g);
	return rc;
}

static int
flush(struct store *st, int64_t older_than_ms)
{
	int rc = store_begin(st), n = -1;

	if (rc == 0 && (n = store_flush_incident_grants(st, older_than_ms)) >= 0 &&
	    store_commit(st) == 0)
		return n;
	store_rollback(st);
	return -1;
}

int
main(void)
{
	char dir[] = "/tmp/rekey-later-XXXXXX", url[512], *err = NULL;
	struct store *st, *other;
	enum store_result r[5000];
	int i, stored;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(url, sizeof(url), "sqlite:%s/s.db", dir);
	st = store_open(url, &err);
	other = store_open(url, &err);
	TAP_OK(st != NULL && other != NULL, "two connections open (%s)", err ? err : "ok");
	if (st == NULL || other == NULL)
		return tap_done();
	put_incident(st, "inc-1");
	TAP_OK(store_add_incident_grant(st, "inc-1", "g0", NULL, 1) == STORE_STORED,
	    "g0 listed at once, the old way");

	/* Waiting: listed for the results, not yet in the incident. */
	TAP_OK(later(st, "inc-1", 0, 4, r, 1) == 0 && r[0] == STORE_DUPLICATE &&
	    r[1] == STORE_STORED && r[2] == STORE_STORED && r[3] == STORE_STORED,
	    "g0 listed before: a duplicate; g1-g3 new");
	TAP_OK(store_grants_waiting(st) == 3, "three wait");
	TAP_OK(affected(other, "inc-1") == 1, "the incident still counts 1 for others");
	TAP_OK(later(st, "inc-1", 2, 3, r, 1) == 0 && r[0] == STORE_DUPLICATE &&
	    r[1] == STORE_DUPLICATE && r[2] == STORE_STORED, "waiting ones count as listed");
	TAP_OK(flush(st, 60000) == 0 && store_grants_waiting(st) == 4,
	    "a flush for those older than a minute lists none");
	TAP_OK(flush(st, 0) == 4 && store_grants_waiting(st) == 0, "a flush lists the four");
	TAP_OK(affected(other, "inc-1") == 5, "the incident counts 5 (%lld)",
	    (long long)affected(other, "inc-1"));
	TAP_OK(flush(st, 0) == 0, "a flush with nothing waiting lists nothing");

	/* A rollback forgets its grants: they are new again. */
	TAP_OK(later(st, "inc-1", 10, 2, r, 0) == 0 && r[0] == STORE_STORED,
	    "g10, g11 waiting in a transaction rolled back");
	TAP_OK(store_grants_waiting(st) == 0, "nothing waits after the rollback");
	TAP_OK(later(st, "inc-1", 10, 2, r, 1) == 0 && r[0] == STORE_STORED && r[1] == STORE_STORED,
	    "g10, g11 are new again");
	TAP_OK(later(st, "inc-1", 12, 1, r, 0) == 0 && store_grants_waiting(st) == 2,
	    "a rollback keeps what earlier transactions committed waiting");

	/* Another connection lists g10 meanwhile: it is listed once. */
	TAP_OK(store_add_incident_grant(other, "inc-1", "g10", NULL, 5) == STORE_STORED,
	    "another connection lists g10 meanwhile");

	/* A crash: closed without a flush.  The next connection lists them. */
	store_close(st);
	st = store_open(url, &err);
	TAP_OK(st != NULL && store_grants_waiting(st) == 2, "reopened: the two still wait");
	TAP_OK(later(st, "inc-1", 11, 1, r, 1) == 0 && r[0] == STORE_DUPLICATE,
	    "and count as listed");
	TAP_OK(flush(st, 0) == 2 && affected(other, "inc-1") == 7,
	    "flushed: g10 once, g11 listed: 7 (%lld)", (long long)affected(other, "inc-1"));

	/* At 4,096 waiting they are listed inside the transaction. */
	TAP_OK(later(st, "inc-1", 100, 4000, r, 1) == 0 && store_grants_waiting(st) == 4000 &&
	    affected(other, "inc-1") == 7, "4,000 new grants wait");
	TAP_OK(later(st, "inc-1", 4100, 100, r, 1) == 0, "100 more");
	for (i = 0, stored = 0; i < 100; i++)
		stored += r[i] == STORE_STORED;
	TAP_OK(stored == 100 && store_grants_waiting(st) == 0, "all new, and none waits (%lld)",
	    (long long)store_grants_waiting(st));
	TAP_OK(affected(other, "inc-1") == 7 + 4100, "the incident counts the 4,100 (%lld)",
	    (long long)affected(other, "inc-1"));

	store_close(other);
	store_close(st);
	tmpdir_remove(dir);
	return tap_done();
}
