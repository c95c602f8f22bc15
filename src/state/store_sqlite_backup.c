/*
 * store_sqlite_backup: a consistent copy of a live SQLite store (rekey
 * backup), and the retention sweep's deletion of old processed events.
 *
 * The copy uses SQLite's online backup API from a connection that holds one
 * read transaction throughout: in WAL mode that pins a snapshot, so the
 * daemon's commits go on beside it and the copy is never restarted by them
 * (without it, every commit by another connection restarts a backup whose
 * steps are spread out, and a busy daemon would starve it).  The pages go in
 * small steps with a pause between, into a temporary file beside DEST that is
 * fsynced and then renamed (linked, without --force) into place.
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/store_sqlite_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pages (4 KiB) copied per step, and the pause after each: the disk stays the daemon's. */
#define BACKUP_STEP_PAGES 256
#define BACKUP_PAUSE_MS 2
/* How long a step may keep failing on a lock (busy, locked) before the backup gives up. */
#define BACKUP_BUSY_MAX_MS 60000
#define BACKUP_BUSY_PAUSE_MS 50
/* Tables listed in the summary, at most. */
#define BACKUP_TABLES_MAX 64

/* Opens the live store without creating it; in one read transaction (the snapshot). */
static sqlite3 *
open_source(const char *path, char **err)
{
	sqlite3 *db = NULL;

	if (access(path, F_OK) == -1) {
		*err = xasprintf("the store %s does not exist: %s", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		*err = xasprintf("cannot open the store %s: %s", path,
		    db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, BACKUP_BUSY_MAX_MS);
	if (sqlite3_exec(db, "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		*err = xasprintf("cannot read the store %s: %s", path, sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Copies src into dst page by page; busy or locked steps are tried again.  0 or -1. */
static int
copy_pages(sqlite3 *src, sqlite3 *dst, struct store_backup_info *info, char **err)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc, busy_ms = 0;

	if (b == NULL) {
		*err = xasprintf("cannot start the backup: %s", sqlite3_errmsg(dst));
		return -1;
	}
	do {
		rc = sqlite3_backup_step(b, BACKUP_STEP_PAGES);
		if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
			busy_ms += BACKUP_BUSY_PAUSE_MS;
			sqlite3_sleep(BACKUP_BUSY_PAUSE_MS);
		} else if (rc == SQLITE_OK) {
			busy_ms = 0;
			sqlite3_sleep(BACKUP_PAUSE_MS);
		}
	} while ((rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) &&
	    busy_ms < BACKUP_BUSY_MAX_MS);
	info->pages = sqlite3_backup_pagecount(b);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		*err = xasprintf("the backup stopped: %s", rc == SQLITE_BUSY || rc == SQLITE_LOCKED ?
		    "the store stayed locked" : sqlite3_errstr(rc));
		return -1;
	}
	return 0;
}

/* The row count of each table of the copy, for the summary.  0 or -1. */
static int
count_rows(sqlite3 *db, struct store_backup_info *info, char **err)
{
	sqlite3_stmt *list = NULL, *count;
	char *sql;
	int rc = -1;

	info->tables = xcalloc(BACKUP_TABLES_MAX, sizeof(*info->tables));
	info->rows = xcalloc(BACKUP_TABLES_MAX, sizeof(*info->rows));
	if (sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'"
	    " AND name NOT LIKE 'sqlite_%' ORDER BY name", -1, &list, NULL) != SQLITE_OK)
		goto out;
	while (info->n_tables < BACKUP_TABLES_MAX && sqlite3_step(list) == SQLITE_ROW) {
		sql = sqlite3_mprintf("SELECT count(*) FROM \"%w\"", sqlite3_column_text(list, 0));
		if (sql == NULL)
			fatal("out of memory");
		count = NULL;
		if (sqlite3_prepare_v2(db, sql, -1, &count, NULL) != SQLITE_OK ||
		    sqlite3_step(count) != SQLITE_ROW) {
			sqlite3_finalize(count);
			sqlite3_free(sql);
			goto out;
		}
		info->tables[info->n_tables] = column_dup(list, 0);
		info->rows[info->n_tables++] = sqlite3_column_int64(count, 0);
		sqlite3_finalize(count);
		sqlite3_free(sql);
	}
	rc = 0;
out:
	if (rc == -1)
		*err = xasprintf("cannot read the copy back: %s", sqlite3_errmsg(db));
	sqlite3_finalize(list);
	return rc;
}

/* Flushes path (a file or a directory) to the disk.  0 or -1 with *err. */
static int
sync_path(const char *path, int dir, char **err)
{
	int fd = open(path, (dir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);

	if (fd == -1 || fsync(fd) == -1) {
		*err = xasprintf("cannot flush %s to disk: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* Copies the live store at src into the new file tmp, made 0600, fsynced.  0 or -1. */
static int
copy_to(const char *src_path, const char *tmp, struct store_backup_info *info, char **err)
{
	sqlite3 *src, *dst = NULL;
	int rc = -1;

	src = open_source(src_path, err);
	if (src == NULL)
		return -1;
	if (sqlite3_open_v2(tmp, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		*err = xasprintf("cannot open %s: %s", tmp, dst ? sqlite3_errmsg(dst) : "out of memory");
		goto out;
	}
	if (copy_pages(src, dst, info, err) == -1 || count_rows(dst, info, err) == -1)
		goto out;
	rc = 0;
out:
	sqlite3_exec(src, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(src);
	/* Closed first: the copy's own journal is gone and every page written. */
	if (sqlite3_close(dst) != SQLITE_OK && rc == 0) {
		*err = xasprintf("cannot close %s", tmp);
		rc = -1;
	}
	if (rc == 0 && chmod(tmp, 0600) == -1) {
		*err = xasprintf("cannot make %s private: %s", tmp, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && sync_path(tmp, 0, err) == -1)
		rc = -1;
	return rc;
}

/* Moves tmp to dest: over it with force, else only when dest does not exist.  0 or -1. */
static int
put_in_place(const char *tmp, const char *dest, int force, char **err)
{
	if (force) {
		if (rename(tmp, dest) == -1) {
			*err = xasprintf("cannot rename %s to %s: %s", tmp, dest, strerror(errno));
			return -1;
		}
		return 0;
	}
	/* link() fails when dest exists, even one made since the check: nothing is overwritten. */
	if (link(tmp, dest) == -1) {
		*err = errno == EEXIST ? xasprintf("%s exists; use --force to replace it", dest) :
		    xasprintf("cannot create %s: %s", dest, strerror(errno));
		return -1;
	}
	unlink(tmp);
	return 0;
}

int
sqlite_backup(const char *path, const char *dest, int force, struct store_backup_info *info,
    char **err)
{
	char *tmp, *copy;
	struct stat st;
	int fd, rc = -1;

	memset(info, 0, sizeof(*info));
	if (!force && lstat(dest, &st) == 0) {
		*err = xasprintf("%s exists; use --force to replace it", dest);
		return -1;
	}
	tmp = xasprintf("%s.tmp-XXXXXX", dest);
	fd = mkstemp(tmp);
	if (fd == -1) {
		*err = xasprintf("cannot create a file beside %s: %s", dest, strerror(errno));
		free(tmp);
		return -1;
	}
	close(fd);
	if (copy_to(path, tmp, info, err) == 0 && put_in_place(tmp, dest, force, err) == 0) {
		copy = xstrdup(dest);
		rc = sync_path(dirname(copy), 1, err);
		free(copy);
	}
	if (rc == 0 && stat(dest, &st) == 0)
		info->bytes = st.st_size;
	if (rc == -1) {
		unlink(tmp);
		store_backup_info_clear(info);
	}
	free(tmp);
	return rc;
}

int64_t
sqlite_expire_events(void *db, int64_t before_ms, size_t max, int64_t *cursor, int *more)
{
	struct sqlite_db *s = db;
	sqlite3_stmt *st;
	int64_t from = *cursor, hi, old;

	/* The window: the next max events by id, which is their order of arrival. */
	st = sqlite_prepare(s, "SELECT max(id) FROM (SELECT id FROM events WHERE id > ?1"
	    " ORDER BY id LIMIT ?2)");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, *cursor);
	sqlite3_bind_int64(st, 2, (int64_t)max);
	hi = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL ?
	    sqlite3_column_int64(st, 0) : 0;
	sqlite_finish(s, st);
	*more = 0;
	if (hi == 0)
		return 0;
	/*
	 * A window of recent events only is passed over, not taken for the
	 * end: events arrive in id order, but a store restored from a backup or
	 * seeded may hold old events after hundreds of recent ones.  Passing
	 * costs a count over the window's ids (about 2,000 windows for 10^6
	 * events, every RETENTION_INTERVAL_S), and no write.
	 */
	st = sqlite_prepare(s, "SELECT count(*) FROM events WHERE id > ?1 AND id <= ?2"
	    " AND received_ms < ?3");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, *cursor);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_int64(st, 3, before_ms);
	old = sqlite_run_count(s, st);
	if (old < 0)
		return -1;
	*cursor = hi;
	*more = 1;
	if (old == 0)
		return 0;
	st = sqlite_prepare(s, "DELETE FROM events WHERE id > ?1 AND id <= ?2"
	    " AND processed_at IS NOT NULL AND received_ms < ?3");
	if (st == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, from);
	sqlite3_bind_int64(st, 2, hi);
	sqlite3_bind_int64(st, 3, before_ms);
	if (sqlite_run_done(s, st, "expire events") == -1)
		return -1;
	return sqlite3_changes64(s->db);
}
