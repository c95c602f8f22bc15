/*
 * store_sqlite_vfs: a transaction's log frames leave in one write (in
 * pieces the platform's write takes, when large), and what the files hold is
 * SQLite's format all the same.  SQLite's own hook for system calls
 * (xSetSystemCall on the platform VFS, which rekey's wraps) counts the writes
 * by size; a copy of the database and its log, taken before any checkpoint
 * as a crash would leave them, is opened with the default VFS and checked; a
 * commit without a sync (synchronous=NORMAL) is read at once by another
 * connection.
 */
#include "lib/util.h"
#include "state/store.h"
#include "state/store_sqlite_int.h"
#include "tap.h"
#include "tmpdir.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <sqlite3.h>

#define EVENTS 50
/* Events of the one big transaction: its frames take more than one write. */
#define BIG_EVENTS 400
#define FRAME_HEADER 24
#define FRAME (FRAME_HEADER + 4096)
/* store_sqlite_vfs.c's WRITE_MAX: the platform's write fails from 128 KiB. */
#define WRITE_MAX (31 * 4096)

static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static int writes, writes_header, writes_one_frame, writes_frames;
static size_t write_largest;

/* Counts by size: lone headers, single frames, runs of two frames or more. */
static ssize_t
counting_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	writes++;
	if (n == FRAME_HEADER)
		writes_header++;
	else if (n == FRAME)
		writes_one_frame++;
	else if (n >= 2 * FRAME)
		writes_frames++;
	if (n > write_largest)
		write_largest = n;
	return real_pwrite(fd, buf, n, off);
}

static void
count_from_zero(void)
{
	writes = writes_header = writes_one_frame = writes_frames = 0;
	write_largest = 0;
}

/* Counts the platform VFS's pwrite (or pwrite64, whichever this SQLite uses); 0 or -1. */
static int
count_writes(void)
{
	static const char *const names[] = { "pwrite64", "pwrite" };
	sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
	size_t i;

	for (i = 0; unix_vfs != NULL && i < 2; i++) {
		sqlite3_syscall_ptr p = unix_vfs->xGetSystemCall(unix_vfs, names[i]);

		if (p == NULL)
			continue;
		real_pwrite = (ssize_t (*)(int, const void *, size_t, off_t))p;
		return unix_vfs->xSetSystemCall(unix_vfs, names[i],
		    (sqlite3_syscall_ptr)counting_pwrite) == SQLITE_OK ? 0 : -1;
	}
	return -1;
}

static int
copy_file(const char *from, const char *to)
{
	char buf[65536];
	ssize_t n;
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600), rc = 0;

	if (in < 0 || out < 0)
		rc = -1;
	while (rc == 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			rc = -1;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return rc;
}

static int64_t
count_rows(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Adds events from..from+n-1, each in its own transaction or (one_txn) all in one. */
static int
add_events_as(struct store *st, int from, int n, int one_txn)
{
	struct store_event ev;
	char id[32], body[1024];
	int i, rc = 0;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (i = from; i < from + n && rc == 0; i++) {
		memset(&ev, 0, sizeof(ev));
		snprintf(id, sizeof(id), "evt-%d", i);
		ev.source = "nylas";
		ev.app = "prod";
		ev.event_id = id;
		ev.type = "grant.expired";
		ev.received_ms = util_now_ms();
		ev.code = ev.reauth_flag = ev.event_time = ev.grant_updated_at = -1;
		ev.body = body;
		ev.body_len = strlen(body);
		if ((!one_txn || i == from) && store_begin(st) != 0)
			rc = -1;
		if (rc == 0 && store_add_event(st, &ev) != STORE_STORED)
			rc = -1;
		if (rc == 0 && (!one_txn || i == from + n - 1) && store_commit(st) != 0)
			rc = -1;
	}
	return rc;
}

static int
add_events(struct store *st, int from, int n)
{
	return add_events_as(st, from, n, 0);
}

/* Events counted by a connection of SQLite's own VFS on path; -1 when it cannot. */
static int64_t
count_elsewhere(const char *path)
{
	sqlite3 *db = NULL;
	int64_t n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK)
		n = count_rows(db, "SELECT count(*) FROM events");
	sqlite3_close(db);
	return n;
}

int
main(void)
{
	char dir[] = "/tmp/rekey-vfs-XXXXXX", url[600], path[512], copy[512], from[600], to[600];
	char *err = NULL;
	struct store *st;
	sqlite3 *db = NULL;
	int rc;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/rekey.db", dir);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	snprintf(url, sizeof(url), "sqlite:%s", path);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opened (%s)", err ? err : "ok");
	if (st == NULL)
		return tap_done();
	TAP_OK(count_writes() == 0, "SQLite's pwrite counted through its system call hook");

	/*
	 * Commits one at a time: each appends a few frames to the log (the
	 * table's page and the unique index's), and no checkpoint runs.
	 */
	count_from_zero();
	TAP_OK(add_events(st, 0, EVENTS) == 0, "%d events committed", EVENTS);
	TAP_OK(writes_header == 0, "no frame header written on its own (%d)", writes_header);
	TAP_OK(writes == EVENTS && writes_frames == EVENTS,
	    "each commit's frames in one write (%d writes, %d of two frames or more, for %d commits)",
	    writes, writes_frames, EVENTS);

	/* What a crash leaves: the database and its log, the log not checkpointed. */
	snprintf(from, sizeof(from), "%s-wal", path);
	snprintf(to, sizeof(to), "%s-wal", copy);
	TAP_OK(copy_file(path, copy) == 0 && copy_file(from, to) == 0,
	    "the database and its log copied as they are");
	rc = sqlite3_open_v2(copy, &db, SQLITE_OPEN_READWRITE, NULL);
	TAP_OK(rc == SQLITE_OK && count_rows(db, "SELECT count(*) FROM events") == EVENTS,
	    "read with SQLite's own VFS: every event is in the log (%lld)",
	    (long long)count_rows(db, "SELECT count(*) FROM events"));
	{
		sqlite3_stmt *check = NULL;
		const unsigned char *said = NULL;

		if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, NULL) == SQLITE_OK &&
		    sqlite3_step(check) == SQLITE_ROW)
			said = sqlite3_column_text(check, 0);
		TAP_OK(said != NULL && strcmp((const char *)said, "ok") == 0,
		    "and the copy passes integrity_check (%s)", said ? (const char *)said : "?");
		sqlite3_finalize(check);
	}
	sqlite3_close(db);

	/* A transaction too big for one write: in pieces the platform's write takes. */
	count_from_zero();
	TAP_OK(add_events_as(st, EVENTS, BIG_EVENTS, 1) == 0,
	    "%d events committed in one transaction", BIG_EVENTS);
	TAP_OK(writes >= 2 && write_largest <= WRITE_MAX && writes_header == 0,
	    "its frames left in %d writes, the largest %zu bytes (at most %d)", writes,
	    write_largest, WRITE_MAX);
	TAP_OK(count_elsewhere(path) == EVENTS + BIG_EVENTS,
	    "and another connection reads them all");

	/*
	 * Without a sync at the commit (synchronous=NORMAL, the journal's writer
	 * for batches of no event), SQLite publishes the commit to readers as soon
	 * as its frames are written: they must be, by then.
	 */
	TAP_OK(store_set_durability(st, 0) == 0, "commits without a sync");
	TAP_OK(add_events(st, EVENTS + BIG_EVENTS, 1) == 0 &&
	    count_elsewhere(path) == EVENTS + BIG_EVENTS + 1,
	    "another connection reads such a commit at once (%lld)",
	    (long long)count_elsewhere(path));
	TAP_OK(store_set_durability(st, 1) == 0, "commits with a sync again");

	/* The same connection reads back what it wrote, through a checkpoint too. */
#define ALL (EVENTS + BIG_EVENTS + 1 + 5)
	{
		long before = sqlite_vfs_writebacks();

		TAP_OK(store_checkpoint(st, 1, NULL, NULL) == 0, "a checkpoint");
		TAP_OK(sqlite_vfs_writebacks() > before,
		    "it started the database's writeback while copying (%ld times)",
		    sqlite_vfs_writebacks() - before);
	}
	TAP_OK(add_events(st, EVENTS + BIG_EVENTS + 1, 5) == 0 &&
	    store_count_events(st, "nylas") == ALL,
	    "after a checkpoint, more commits, all counted by the writing connection");
	store_close(st);
	st = store_open(url, &err);
	TAP_OK(st != NULL && store_count_events(st, "nylas") == ALL,
	    "and by a new connection after it closed");
	store_close(st);
	free(err);
	tmpdir_remove(dir);
	return tap_done();
}
