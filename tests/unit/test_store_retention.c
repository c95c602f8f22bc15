/*
 * Unit tests against a real store: the retention sweep's batches
 * (store_expire_events) delete old processed events only, and store_backup
 * makes a private, consistent copy of a SQLite store and never overwrites
 * without force.  With REKEY_TEST_STORE_URL (tests/lib/pg.py run) the
 * sweep runs against PostgreSQL, counted with psql over
 * REKEY_TEST_PG_SOCKET_URL, and backup must point to pg_dump.
 */
#include "state/store.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define OLD_MS 1000			/* 1970: long past any retention */
#define N_OLD 1200
#define CUTOFF_MS 1000000

static char dir[64], url[512];
static int64_t next_id;
static const char *pg_socket_url;	/* PostgreSQL: psql's URL for count() */

/* The integer psql prints for sql, or -1. */
static int64_t
pg_count(const char *sql)
{
	char cmd[1024], line[64];
	FILE *f;
	int64_t n = -1;

	snprintf(cmd, sizeof(cmd), "psql -X -At -d '%s' -c \"%s\"", pg_socket_url, sql);
	f = popen(cmd, "r");
	if (f == NULL)
		return -1;
	if (fgets(line, sizeof(line), f) != NULL)
		n = strtoll(line, NULL, 10);
	pclose(f);
	return n;
}

/*
 * Adds an event received at received_ms, stored processed (at received_ms)
 * or not; how many were added so far.  Not its row id: SQLite gives a
 * deleted last row's id to the next.
 */
static int64_t
add(struct store *st, int64_t received_ms, int processed)
{
	char id[32];
	struct store_event ev = {
		.source = "nylas", .app = "prod", .event_id = id, .type = "grant.expired",
		.received_ms = received_ms, .code = -1, .reauth_flag = -1, .event_time = -1,
		.grant_updated_at = -1, .body = "{\"x\":1}", .body_len = 7,
		.result = processed ? "test" : NULL, .processed_ms = received_ms,
	};

	snprintf(id, sizeof(id), "e%lld", (long long)++next_id);
	store_add_event(st, &ev);
	return next_id;
}

static int64_t
count(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int64_t n = -1;

	if (pg_socket_url != NULL)
		return pg_count(sql);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

static int
integrity_ok(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	int ok = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		ok = strcmp((const char *)sqlite3_column_text(q, 0), "ok") == 0;
	sqlite3_finalize(q);
	sqlite3_close(db);
	return ok;
}

static void
test_retention(struct store *st, const char *db_path)
{
	int64_t cursor = 0, n, total = 0, unprocessed, recent;
	int i, more = 1, batches = 0;

	store_begin(st);
	for (i = 0; i < N_OLD; i++)
		add(st, OLD_MS, 1);
	unprocessed = add(st, OLD_MS, 0);
	recent = add(st, CUTOFF_MS + 5, 1);
	add(st, CUTOFF_MS + 6, 0);
	store_commit(st);

	while (more && batches < 100) {
		n = store_expire_events(st, CUTOFF_MS, 500, &cursor, &more);
		if (n < 0)
			break;
		total += n;
		batches++;
	}
	TAP_OK(total == N_OLD, "retention: the %d old processed events are deleted (%lld)", N_OLD,
	    (long long)total);
	TAP_OK(batches == 4, "retention: in batches of at most 500 (%d), to the end", batches);
	TAP_OK(count(db_path, "SELECT count(*) FROM events") == 3,
	    "retention: the old unprocessed and both recent events stay");
	TAP_OK(count(db_path, "SELECT count(*) FROM events WHERE processed_at IS NULL"
	    " AND received_ms < 1000000") == 1 && unprocessed > 0,
	    "retention: an old event not yet processed is never deleted");
	TAP_OK(recent > 0 && count(db_path, "SELECT count(*) FROM events WHERE received_ms > 1000000"
	    " AND processed_at IS NOT NULL") == 1, "retention: a recent processed event stays");
	cursor = 0;
	store_begin(st);
	for (i = 0; i < 600; i++)
		add(st, CUTOFF_MS + 10, 1);
	add(st, OLD_MS, 1);
	store_commit(st);
	TAP_OK(store_expire_events(st, CUTOFF_MS, 500, &cursor, &more) == 0 && more == 1,
	    "retention: a window with an old unprocessed event goes on (nothing to delete)");
	TAP_OK(store_expire_events(st, CUTOFF_MS, 500, &cursor, &more) == 1 && more == 1,
	    "retention: an old event after recent ones (out of order) in a mixed window goes");
	/*
	 * A window of recent events only is passed over, not the end: a store
	 * restored from a backup may hold old events after hundreds of recent ones.
	 */
	cursor = 0;
	store_begin(st);
	add(st, OLD_MS, 1);
	store_commit(st);
	TAP_OK(store_expire_events(st, CUTOFF_MS, 500, &cursor, &more) == 0 && more == 1 &&
	    cursor > 0, "retention: a window of recent events only is passed over");
	total = 0;
	for (batches = 0; more && batches < 100; batches++)
		if ((n = store_expire_events(st, CUTOFF_MS, 500, &cursor, &more)) > 0)
			total += n;
	TAP_OK(total == 1 && more == 0, "retention: the old event after it is deleted, then the"
	    " sweep ends (%lld)", (long long)total);
}

static void
test_backup(const char *db_path)
{
	struct store_backup_info info;
	char dest[192], *err = NULL;
	struct stat sb;
	size_t i;
	int64_t events = -1;

	snprintf(dest, sizeof(dest), "%s/copy.db", dir);
	TAP_OK(store_backup(url, dest, 0, &info, &err) == 0, "backup: made (%s)", err ? err : "ok");
	free(err);
	err = NULL;
	for (i = 0; i < info.n_tables; i++)
		if (strcmp(info.tables[i], "events") == 0)
			events = info.rows[i];
	TAP_OK(info.pages > 0 && info.bytes > 0 && events == 603,
	    "backup: reports pages, bytes and the rows of each table (events %lld)",
	    (long long)events);
	store_backup_info_clear(&info);
	TAP_OK(stat(dest, &sb) == 0 && (sb.st_mode & 0777) == 0600, "backup: the copy is mode 0600");
	TAP_OK(integrity_ok(dest), "backup: the copy passes PRAGMA integrity_check");
	TAP_OK(count(dest, "SELECT count(*) FROM events") == count(db_path,
	    "SELECT count(*) FROM events"), "backup: the copy holds the same events");
	TAP_OK(store_backup(url, dest, 0, &info, &err) == -1 && err != NULL &&
	    strstr(err, "--force") != NULL, "backup: an existing file is refused without force (%s)",
	    err ? err : "");
	free(err);
	err = NULL;
	TAP_OK(store_backup(url, dest, 1, &info, &err) == 0, "backup: with force it is replaced");
	store_backup_info_clear(&info);
	free(err);
	err = NULL;
	TAP_OK(store_backup("postgresql://rekey@db/rekey", dest, 1, &info, &err) == -1 &&
	    err != NULL && strstr(err, "pg_dump") != NULL, "backup: PostgreSQL points to pg_dump");
	free(err);
	err = NULL;
	snprintf(dest, sizeof(dest), "%s/no/such/dir/copy.db", dir);
	TAP_OK(store_backup(url, dest, 0, &info, &err) == -1 && err != NULL,
	    "backup: an unwritable destination is an error (%s)", err ? err : "");
	free(err);
}

/* PostgreSQL: no copy by rekey; the refusal names pg_dump, and nothing is written. */
static void
test_pg_backup(void)
{
	struct store_backup_info info;
	char dest[192], *err = NULL;

	snprintf(dest, sizeof(dest), "%s/copy.db", dir);
	TAP_OK(store_backup(url, dest, 0, &info, &err) == -1 && err != NULL &&
	    strstr(err, "pg_dump") != NULL && access(dest, F_OK) == -1,
	    "backup: a PostgreSQL store points to pg_dump, nothing written (%s)", err ? err : "");
	free(err);
}

int
main(void)
{
	struct store *st;
	char db_path[128], *err = NULL;
	const char *env = getenv("REKEY_TEST_STORE_URL");

	snprintf(dir, sizeof(dir), "/tmp/rekey-retention-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(db_path, sizeof(db_path), "%s/rekey.db", dir);
	if (env != NULL && strncmp(env, "postgres", 8) == 0) {
		pg_socket_url = getenv("REKEY_TEST_PG_SOCKET_URL");
		if (pg_socket_url == NULL)
			return 1;
		snprintf(url, sizeof(url), "%s", env);
	} else {
		snprintf(url, sizeof(url), "sqlite:%s", db_path);
	}
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens (%s)", err ? err : "ok");
	if (st == NULL)
		return tap_done();
	test_retention(st, db_path);
	if (pg_socket_url != NULL)
		test_pg_backup();
	else
		test_backup(db_path);
	store_close(st);
	snprintf(url, sizeof(url), "rm -rf %s", dir);
	if (system(url) != 0)
		return 1;
	return tap_done();
}
